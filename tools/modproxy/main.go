// SPDX-License-Identifier: MIT

// Command modproxy publishes a module source tree as one version in a
// directory laid out as a Go module proxy (GOPROXY=file://DIR), so that
// release binaries can be built with `go install PKG@VERSION`: built that
// way, the binaries record the module version in their build information,
// where `go version -m` finds it, instead of "(devel)".
//
//	modproxy -dir SRC -version v1.2.3 -time 2006-01-02T15:04:05Z -o PROXYDIR
//
// The module path is read from SRC/go.mod. Nested modules and files the
// go command would not put in a module zip are left out, as they are from
// any published version.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "modproxy: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("modproxy", flag.ContinueOnError)
	dir := fs.String("dir", ".", "the module's source `directory`")
	version := fs.String("version", "", "the `version` to publish (a canonical semantic version)")
	when := fs.String("time", "", "the version's `time` (RFC 3339), as the commit's")
	out := fs.String("o", "", "proxy `directory` to write into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return errors.New("usage: modproxy -dir SRC -version VERSION -time TIME -o PROXYDIR")
	}
	if !semver.IsValid(*version) || semver.Canonical(*version) != *version {
		return fmt.Errorf("%q is not a canonical semantic version", *version)
	}
	t, err := time.Parse(time.RFC3339, *when)
	if err != nil {
		return fmt.Errorf("-time: %w", err)
	}
	gomod, err := os.ReadFile(filepath.Join(*dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(gomod)
	if path == "" {
		return fmt.Errorf("%s/go.mod names no module", *dir)
	}
	mv := module.Version{Path: path, Version: *version}
	if err := module.Check(path, *version); err != nil {
		return err
	}
	ep, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	ev, err := module.EscapeVersion(*version)
	if err != nil {
		return err
	}
	vdir := filepath.Join(*out, filepath.FromSlash(ep), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{*version, t.UTC()})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, ev+".info"), info, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, ev+".mod"), gomod, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, "list"), []byte(*version+"\n"), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(vdir, ev+".zip"))
	if err != nil {
		return err
	}
	if err := zip.CreateFromDir(f, mv, *dir); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
