// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Abbreviated licence texts: the operative sentences classify keys on,
// reflowed as copies often are.
const (
	mitText = `Copyright (c) 2031 Example Holder

Permission is hereby granted, free of charge, to any person
obtaining a copy of this software, to deal in the Software without restriction.`
	bsd3Text = `Copyright (c) 2030 Example Org. All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that ...
   * Neither the name of Example Org nor the names of its contributors may be
used to endorse or promote products derived from this software without specific prior written permission.`
	bsd2Text = `Copyright 2029 A. Person
Redistribution and use in source and binary forms, with or without modification, are permitted.`
	apacheText = `
                                 Apache License
                           Version 2.0, January 2004
   Copyright [yyyy] [name of copyright owner]`
	mplText = `Mozilla Public License Version 2.0
1.12. "Secondary License" means either the GNU General Public License,
Version 2.0, the GNU Lesser General Public License, Version 2.1, the GNU
Affero General Public License, Version 3.0, or any later versions of those licenses`
	iscText = `Copyright (c) 2028 Someone
Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above copyright notice appear.`
	gplText = `GNU GENERAL PUBLIC LICENSE Version 3, 29 June 2007
Preamble
The GNU General Public License is a free, copyleft license`
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"mit", mitText, []string{"MIT"}},
		{"bsd3", bsd3Text, []string{"BSD-3-Clause"}},
		{"bsd2", bsd2Text, []string{"BSD-2-Clause"}},
		{"apache", apacheText, []string{"Apache-2.0"}},
		{"mpl names the GNU licences without being one", mplText, []string{"MPL-2.0"}},
		{"isc", iscText, []string{"ISC"}},
		{"gpl", gplText, []string{"GPL"}},
		{"dual", mitText + "\n\n" + apacheText, []string{"Apache-2.0", "MIT"}},
		{"unknown", "All rights reserved. Do not copy.", nil},
		{"empty", "", nil},
	} {
		if got := classify(tc.text); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCopyrightLines(t *testing.T) {
	got := copyrightLines(mitText + "\n" + apacheText + "\nCopyright (c) 2031 Example Holder\n  copyright notice and this permission notice shall be included")
	want := []string{"Copyright (c) 2031 Example Holder"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("copyrightLines = %q, want %q", got, want)
	}
}

// fakeCache lays out modules in a module cache directory the way the go
// command does (escaped paths, path@version).
func fakeCache(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheck(t *testing.T) {
	cache := fakeCache(t, map[string]string{
		"example.com/ok@v1.0.0/LICENSE":         mitText,
		"example.com/ok@v1.0.0/NOTICE":          "Example notice text.",
		"example.com/ok@v1.0.0/sub/LICENSE":     gplText, // not at the root: ignored
		"example.com/gpl@v1.0.0/COPYING":        gplText,
		"example.com/nolicence@v1.0.0/README":   "no licence here",
		"example.com/odd@v1.0.0/LICENSE.txt":    "All rights reserved.",
		"github.com/!upper/case@v0.1.0/LICENSE": apacheText,
	})
	mk := func(path, version string) *mod { return &mod{Path: path, Version: version, UsedBy: []string{"wgplex"}} }
	good := []*mod{mk("example.com/ok", "v1.0.0"), mk("github.com/Upper/case", "v0.1.0")}
	if err := collect(good, cache); err != nil {
		t.Fatal(err)
	}
	if err := check(good, DefaultAllowed); err != nil {
		t.Fatalf("allowed licences refused: %v", err)
	}
	if n := len(good[0].Files); n != 2 || good[0].Files[1].Licence {
		t.Fatalf("files of example.com/ok: %+v", good[0].Files)
	}

	bad := []*mod{mk("example.com/gpl", "v1.0.0"), mk("example.com/nolicence", "v1.0.0"), mk("example.com/odd", "v1.0.0")}
	if err := collect(bad, cache); err != nil {
		t.Fatal(err)
	}
	err := check(bad, DefaultAllowed)
	if err == nil {
		t.Fatal("check passed a GPL module, one without a licence and an unknown licence")
	}
	for _, want := range []string{"example.com/gpl@v1.0.0: GPL is not on the allow-list", "example.com/nolicence@v1.0.0: no licence file", "example.com/odd@v1.0.0: licence not recognised"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	if err := collect([]*mod{mk("example.com/absent", "v1.0.0")}, cache); err == nil || !strings.Contains(err.Error(), "not in the module cache") {
		t.Fatalf("a module missing from the cache: err = %v", err)
	}
}

// TestLinkedModules reads the build information of this test binary,
// which links golang.org/x/mod.
func TestLinkedModules(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	mods, mains, err := linkedModules([]string{exe, exe})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mods {
		if m.Path == "golang.org/x/mod" {
			found = true
			if m.Version == "" || len(m.UsedBy) != 1 {
				t.Errorf("golang.org/x/mod: %+v", m)
			}
		}
	}
	if !found {
		t.Fatalf("golang.org/x/mod not among %d linked modules", len(mods))
	}
	if len(mains) != 1 {
		t.Errorf("main packages: %v", mains)
	}
	if _, _, err := linkedModules([]string{filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("no error for a missing binary")
	}
}

func TestDEP5(t *testing.T) {
	cache := fakeCache(t, map[string]string{
		"example.com/a@v1.0.0/LICENSE": apacheText + "\n",
		"example.com/a@v1.0.0/NOTICE":  "A notice.\n\nSecond paragraph.",
		"example.com/b@v2.0.0/LICENSE": bsd3Text,
	})
	mods := []*mod{{Path: "example.com/a", Version: "v1.0.0", UsedBy: []string{"wgplex"}},
		{Path: "example.com/b", Version: "v2.0.0", UsedBy: []string{"keyvault-file", "wgplex"}}}
	if err := collect(mods, cache); err != nil {
		t.Fatal(err)
	}
	std := &mod{Path: "std", Files: []licenceFile{{Name: "LICENSE", Text: bsd3Text, Licence: true}}, Licences: []string{"BSD-3-Clause"}}
	var b bytes.Buffer
	writeDEP5(&b, dep5Meta{Name: "wgplex", Contact: "x <x@example.org>", Source: "https://example.org", Licence: mitText, LicenceID: "MIT"}, std, mods)
	out := b.String()
	for _, want := range []string{
		"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
		"\nFiles: vendor/example.com/a/*\nCopyright: The authors of example.com/a\nLicense: Apache-2.0\n On Debian systems, the complete text of the Apache-2.0 licence can be found in /usr/share/common-licenses/Apache-2.0.\n",
		" NOTICE:\n A notice.\n .\n Second paragraph.\n",
		"\nFiles: vendor/example.com/b/*\nCopyright: 2030 Example Org. All rights reserved.\nLicense: BSD-3-Clause\n Copyright (c) 2030",
		"linked into keyvault-file, wgplex.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dep5 output lacks %q:\n%s", want, out)
		}
	}
	// Every continuation line is indented and no line is empty inside a
	// paragraph: what a DEP-5 parser needs.
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" || strings.HasPrefix(l, " ") || strings.Contains(l, ": ") {
			continue
		}
		t.Errorf("line %d is neither a field, a continuation nor a paragraph break: %q", i+1, l)
	}
}

// A licence file that carries the Apache terms beside another licence
// keeps the other licence and refers to Debian's copy of the Apache terms.
func TestShortenApacheKeepsOtherLicence(t *testing.T) {
	apacheFull := apacheText + "\n   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION\n   1. Definitions.\n   END OF TERMS AND CONDITIONS\n"
	text := "Copyright 2031 Example\n" + apacheFull + "\n------\nSome files carry the following license:\n" + mitText
	got := shortenApache(text)
	if strings.Contains(got, "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION") {
		t.Fatalf("the Apache terms are still there:\n%s", got)
	}
	for _, want := range []string{"Copyright 2031 Example", "/usr/share/common-licenses/Apache-2.0", "Some files carry the following license:", strings.TrimSpace(mitText)} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if plain := "just MIT\n" + mitText; shortenApache(plain) != plain {
		t.Error("a text without the Apache terms was changed")
	}
}
