// SPDX-License-Identifier: MIT

//go:build windows

package uapi

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// testPipeDir is outside ProtectedPrefix, so the test needs no elevation.
func testPipeDir() string { return fmt.Sprintf(`\\.\pipe\wgplex-test-%d`, os.Getpid()) }

func TestPipeServerServesAndCloses(t *testing.T) {
	dir := testPipeDir()
	s, err := Listen(dir, "wgt0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHandler{}
	served := make(chan error, 1)
	go func() { served <- s.Serve(h, nil) }()

	// A second server on the same name must fail: the first instance was
	// created with FILE_FLAG_FIRST_PIPE_INSTANCE.
	if s2, err := Listen(dir, "wgt0"); err == nil {
		s2.Close()
		t.Error("a second Listen on the same pipe succeeded")
	}

	for i := range 3 {
		c, err := DialPath(pipePath(dir, "wgt0"))
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		if _, err := c.Get(); err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		c.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
	if _, err := DialPath(pipePath(dir, "wgt0")); err == nil {
		t.Error("dial succeeded after Close")
	}
}

func TestPipeListenRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", `a\b`, "a/b", ".."} {
		if s, err := Listen(testPipeDir(), name); err == nil {
			s.Close()
			t.Errorf("Listen(%q) succeeded", name)
		}
	}
}
