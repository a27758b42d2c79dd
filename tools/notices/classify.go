// SPDX-License-Identifier: MIT

package main

import (
	"sort"
	"strings"
)

// licenceMarkers identifies a licence by phrases of its text. Matching is
// done on a normalised copy (lower case, single spaces), so line breaks and
// indentation of the original do not matter. Every marker of an entry must
// be present. The phrases are the operative sentences of each licence,
// which copies keep even when they reflow or rename the holder.
var licenceMarkers = []struct {
	id      string
	markers []string
	// unless lists phrases whose presence means the text is a different
	// licence of the same family (the third clause of BSD-3-Clause).
	unless []string
}{
	{id: "Apache-2.0", markers: []string{"apache license", "version 2.0"}},
	{id: "MPL-2.0", markers: []string{"mozilla public license", "version 2.0"}},
	{id: "MIT", markers: []string{"permission is hereby granted, free of charge, to any person obtaining a copy"}},
	{id: "ISC", markers: []string{"permission to use, copy, modify, and", "distribute this software for any purpose with or without fee is hereby granted"}},
	{id: "BSD-3-Clause", markers: []string{"redistribution and use in source and binary forms", "may be used to endorse or promote products derived from this software"}},
	{id: "BSD-2-Clause", markers: []string{"redistribution and use in source and binary forms"},
		unless: []string{"may be used to endorse or promote products derived from this software"}},
	// Licences that must never be linked into a release: recognised so that
	// the error names them instead of calling the text unknown. The full
	// GNU texts open with a preamble; the MPL-2.0 merely names them (as
	// "Secondary Licenses"), which must not count.
	{id: "GPL", markers: []string{"gnu general public license", "preamble"}},
	{id: "LGPL", markers: []string{"gnu lesser general public license", "preamble"}},
	{id: "AGPL", markers: []string{"gnu affero general public license", "preamble"}},
}

// DefaultAllowed is the allow-list of licences a linked module may carry.
var DefaultAllowed = []string{"Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "ISC", "MIT", "MPL-2.0"}

func normalise(text string) string {
	return strings.Join(strings.Fields(strings.ToLower(text)), " ")
}

// classify returns the SPDX identifiers of every licence recognised in
// text, sorted; nil if none is.
func classify(text string) []string {
	t := normalise(text)
	var ids []string
	for _, l := range licenceMarkers {
		ok := true
		for _, m := range l.markers {
			if !strings.Contains(t, m) {
				ok = false
				break
			}
		}
		for _, u := range l.unless {
			if strings.Contains(t, u) {
				ok = false
			}
		}
		if ok {
			ids = append(ids, l.id)
		}
	}
	// The LGPL text names the GPL as well; report the LGPL alone.
	if contains(ids, "LGPL") || contains(ids, "AGPL") {
		ids = remove(ids, "GPL")
	}
	sort.Strings(ids)
	return ids
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remove(list []string, s string) []string {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// copyrightLines returns the distinct "Copyright ..." lines of text, in
// order of appearance, for the DEP-5 Copyright field. Template lines of
// licence texts ("Copyright [yyyy] [name of copyright owner]") are left
// out.
func copyrightLines(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		lower := strings.ToLower(l)
		if !strings.HasPrefix(lower, "copyright") || strings.Contains(l, "[") || strings.Contains(lower, "copyright notice") ||
			strings.Contains(lower, "copyright owner") || strings.Contains(lower, "copyright holder") ||
			strings.Contains(lower, "copyright license") || strings.Contains(lower, "copyright and") ||
			len(l) < len("copyright 1 x") || len(l) > 200 {
			continue
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}
