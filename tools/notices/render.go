// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"fmt"
	"strings"
)

// commonLicences are the licences whose full text Debian installs under
// /usr/share/common-licenses; a Debian copyright file refers to those
// instead of repeating them.
var commonLicences = map[string]string{
	"Apache-2.0": "/usr/share/common-licenses/Apache-2.0",
	"MPL-2.0":    "/usr/share/common-licenses/MPL-2.0",
}

const rule = "--------------------------------------------------------------------------------\n"

// writeText writes the notices as one plain-text document: a summary
// table, then every module's licence and notice files verbatim.
func writeText(b *bytes.Buffer, std *mod, mods []*mod) {
	b.WriteString("THIRD-PARTY SOFTWARE NOTICES\n\n")
	b.WriteString("wgplex is licensed under the MIT licence (see LICENSE). Its binaries are\n")
	b.WriteString("statically linked Go programs that also contain the Go standard library and\n")
	b.WriteString("the Go modules listed below, each under its own licence, reproduced in full\n")
	b.WriteString("after the summary together with any NOTICE file the module ships.\n\n")
	all := append([]*mod{std}, mods...)
	const stdID = "Go standard library and runtime"
	width := len(stdID)
	for _, m := range mods {
		width = max(width, len(m.Path)+1+len(m.Version))
	}
	for _, m := range all {
		id := m.Path + " " + m.Version
		if m == std {
			id = stdID
		}
		fmt.Fprintf(b, "  %-*s  %s\n", width, id, strings.Join(m.Licences, " AND "))
	}
	for _, m := range all {
		b.WriteString("\n" + rule)
		if m == std {
			b.WriteString("The Go standard library and runtime (every binary)\n")
		} else {
			fmt.Fprintf(b, "%s %s (linked into: %s)\n", m.Path, m.Version, strings.Join(m.UsedBy, ", "))
		}
		fmt.Fprintf(b, "Licence: %s\n", strings.Join(m.Licences, " AND "))
		b.WriteString(rule)
		for _, f := range m.Files {
			fmt.Fprintf(b, "\n---- %s ----\n\n", f.Name)
			b.WriteString(f.Text)
		}
	}
}

// dep5Meta is what the Debian copyright file says about the project
// itself.
type dep5Meta struct {
	Name, Contact, Source string
	// Licence is the project's own licence text, and LicenceID its SPDX id.
	Licence, LicenceID string
}

// writeDEP5 writes a machine-readable Debian copyright file.
func writeDEP5(b *bytes.Buffer, meta dep5Meta, std *mod, mods []*mod) {
	b.WriteString("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
	fmt.Fprintf(b, "Upstream-Name: %s\n", meta.Name)
	fmt.Fprintf(b, "Upstream-Contact: %s\n", meta.Contact)
	fmt.Fprintf(b, "Source: %s\n", meta.Source)
	field(b, "Comment", fmt.Sprintf("The programs in this package are statically linked Go binaries. Besides %s "+
		"itself they contain the Go standard library and the Go modules below, named by the "+
		"path under which each would lie in a vendor/ directory of the source tree.", meta.Name))

	fmt.Fprintf(b, "\nFiles: *\nCopyright: The %s authors\n", meta.Name)
	field(b, "License", meta.LicenceID+"\n"+meta.Licence)

	b.WriteString("\nFiles: goroot/*\n")
	field(b, "Copyright", strings.Join(orDefault(copyrightOf(std), "The Go Authors"), "\n"))
	licenceField(b, std)
	field(b, "Comment", "The Go standard library and runtime, compiled into every binary.\n"+notices(std))

	for _, m := range mods {
		fmt.Fprintf(b, "\nFiles: vendor/%s/*\n", m.Path)
		field(b, "Copyright", strings.Join(orDefault(copyrightOf(m), "The authors of "+m.Path), "\n"))
		licenceField(b, m)
		field(b, "Comment", fmt.Sprintf("%s %s, linked into %s.\n%s", m.Path, m.Version, strings.Join(m.UsedBy, ", "), notices(m)))
	}
}

// licenceField writes a Files paragraph's License field: for a licence
// Debian ships, a pointer to its copy; otherwise the module's own text,
// which for MIT- and BSD-style licences carries the holder's name.
func licenceField(b *bytes.Buffer, m *mod) {
	id := strings.Join(m.Licences, " and ")
	common := len(m.Licences) > 0
	for _, l := range m.Licences {
		if _, ok := commonLicences[l]; !ok {
			common = false
		}
	}
	if common {
		var refs []string
		for _, l := range m.Licences {
			refs = append(refs, fmt.Sprintf("On Debian systems, the complete text of the %s licence can be found in %s.", l, commonLicences[l]))
		}
		field(b, "License", id+"\n"+strings.Join(refs, "\n"))
		return
	}
	var texts []string
	for _, f := range m.Files {
		if f.Licence {
			texts = append(texts, shortenApache(f.Text))
		}
	}
	field(b, "License", id+"\n"+strings.Join(texts, "\n"))
}

// shortenApache replaces the terms of an Apache License 2.0 embedded in a
// licence file that also carries another licence (gVisor's LICENSE has
// Apache-2.0 and, for some files, MIT) by a pointer to Debian's copy: the
// other licence's text must stay, but Debian policy (and lintian's
// copyright-file-contains-full-apache-2-license) wants the Apache terms
// referred to, not repeated. The text around them is kept as it is.
func shortenApache(text string) string {
	const (
		terms = "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"
		end   = "END OF TERMS AND CONDITIONS"
	)
	i := strings.Index(text, terms)
	j := strings.Index(text, end)
	if i < 0 || j < i {
		return text
	}
	// Start at the "Apache License" heading above the terms, if it is
	// there, and end after the line that closes them.
	start := i
	if h := strings.LastIndex(text[:i], "Apache License"); h >= 0 {
		start = h
	}
	start = strings.LastIndexByte(text[:start], '\n') + 1
	stop := j + len(end)
	if nl := strings.IndexByte(text[stop:], '\n'); nl >= 0 {
		stop += nl + 1
	} else {
		stop = len(text)
	}
	return text[:start] + "[The terms of the Apache License, Version 2.0: on Debian systems its complete text can be found in " +
		commonLicences["Apache-2.0"] + ".]\n" + text[stop:]
}

// notices is the text of a module's NOTICE and PATENTS files, which the
// Apache licence asks redistributors to pass on.
func notices(m *mod) string {
	var parts []string
	for _, f := range m.Files {
		if !f.Licence {
			parts = append(parts, f.Name+":\n"+f.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func copyrightOf(m *mod) []string {
	var lines []string
	for _, f := range m.Files {
		for _, l := range copyrightLines(f.Text) {
			if !contains(lines, l) {
				lines = append(lines, l)
			}
		}
	}
	// The field holds the notices themselves, without the word.
	for i, l := range lines {
		for _, p := range []string{"Copyright (c) ", "Copyright (C) ", "Copyright © ", "Copyright ", "copyright "} {
			if strings.HasPrefix(l, p) {
				lines[i] = strings.TrimSpace(l[len(p):])
				break
			}
		}
	}
	return lines
}

func orDefault(list []string, def string) []string {
	if len(list) == 0 {
		return []string{def}
	}
	return list
}

// field writes a DEP-5 field whose value may span lines: the first line
// after the name, the others indented by one space, empty ones as " .".
func field(b *bytes.Buffer, name, value string) {
	lines := strings.Split(strings.TrimRight(value, "\n"), "\n")
	fmt.Fprintf(b, "%s: %s\n", name, strings.TrimSpace(lines[0]))
	for _, l := range lines[1:] {
		l = strings.TrimRight(strings.ReplaceAll(l, "\t", "    "), " ")
		if l == "" {
			b.WriteString(" .\n")
			continue
		}
		b.WriteString(" " + l + "\n")
	}
}
