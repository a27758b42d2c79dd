// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestResolveCommandSearchDirsBeforePath(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("executable bits and names differ on Windows")
	}
	pkgDir, pathDir, emptyDir := t.TempDir(), t.TempDir(), t.TempDir()
	const name = "wgplex-test-plugin"
	for _, d := range []string{pkgDir, pathDir} {
		if err := os.WriteFile(filepath.Join(d, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A non-executable file of the same name earlier in the search order
	// must be passed over.
	if err := os.WriteFile(filepath.Join(emptyDir, name), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", pathDir)

	var logs bytes.Buffer
	argv := []string{name, "-key", "x"}
	c := Config{Kind: "keyvault", Command: argv, SearchDirs: []string{"", emptyDir, pkgDir},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(pkgDir, name)
	if c.Command[0] != want || c.Command[2] != "x" {
		t.Fatalf("Command = %q, want %s first", c.Command, want)
	}
	if argv[0] != name {
		t.Fatalf("the caller's argv was modified: %q", argv)
	}
	if c.Name != name {
		t.Fatalf("Name = %q, want the command's base name", c.Name)
	}
	if !strings.Contains(logs.String(), "path="+want) {
		t.Fatalf("the absolute path is not logged: %s", logs.String())
	}
	// Resolving again (Start after StartKeyVault's own setDefaults) keeps
	// the path and does not log it twice.
	if err := c.setDefaults(); err != nil || c.Command[0] != want || strings.Count(logs.String(), "Plugin binary") != 1 {
		t.Fatalf("second setDefaults: err=%v command=%q logs=%s", err, c.Command, logs.String())
	}

	// Without the search directory, PATH is used.
	c = Config{Kind: "keyvault", Command: []string{name}}
	if err := c.setDefaults(); err != nil || c.Command[0] != filepath.Join(pathDir, name) {
		t.Fatalf("PATH lookup: err=%v command=%q", err, c.Command)
	}

	// A relative path is made absolute, without a search (and must name
	// a file that exists: its checksum is logged at start).
	t.Chdir(pathDir)
	c = Config{Kind: "keyvault", Command: []string{"./" + name}, SearchDirs: []string{pkgDir}}
	if err := c.setDefaults(); err != nil || c.Command[0] != filepath.Join(pathDir, name) {
		t.Fatalf("relative path: err=%v command=%q", err, c.Command)
	}

	// Nowhere to be found: an error naming where it looked.
	c = Config{Kind: "keyvault", Command: []string{"wgplex-no-such-plugin"}, SearchDirs: []string{pkgDir}}
	if err := c.setDefaults(); err == nil || !strings.Contains(err.Error(), pkgDir) {
		t.Fatalf("missing plugin: err=%v", err)
	}
}
