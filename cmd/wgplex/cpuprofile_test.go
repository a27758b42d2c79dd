// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCPUProfilePart(t *testing.T) {
	env := &daemonEnv{Log: slog.New(slog.DiscardHandler)}
	path := filepath.Join(t.TempDir(), "cpu.pprof")

	off := &cpuProfilePart{}
	fs := &daemonFlagSet{}
	off.Flags(fs)
	if stop, err := off.Start(env); stop != nil || err != nil {
		t.Fatalf("without a path: stop %v, err %v; want neither", stop != nil, err)
	}

	p := &cpuProfilePart{path: &path}
	stop, err := p.Start(env)
	if err != nil && strings.Contains(err.Error(), "already in use") {
		t.Skip("the test binary is being profiled itself (-cpuprofile): one CPU profile at a time")
	}
	if err != nil {
		t.Fatal(err)
	}
	// A second profile cannot start while one runs, and the file named
	// exists now: the part refuses it without touching the file.
	if _, err := (&cpuProfilePart{path: &path}).Start(env); err == nil {
		t.Error("a second start on the same file succeeded")
	}
	stop()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A pprof profile is gzip-compressed protobuf.
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("profile starts %x, want a gzip header", b[:min(len(b), 4)])
	}

	// An existing file is never overwritten (the daemon runs as root).
	stop, err = p.Start(env)
	if err == nil {
		stop()
		t.Fatal("started over an existing file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Error("the existing file changed")
	}
}
