// SPDX-License-Identifier: MIT

// Package starterr turns what a plugin printed instead of go-plugin's
// handshake, and go-plugin's own version-mismatch message, into one
// bounded, printable line for the daemon's error. It is a package of its
// own, with nothing but the standard library below it, so that its fuzz
// target does not compile the plugin host's dependencies (gRPC,
// go-plugin) a second time with coverage instrumentation.
package starterr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// MaxQuotedLine bounds how much of a stray stdout line goes into an
// error: enough to recognise a debug print, not a whole dump.
const MaxQuotedLine = 80

// BadHandshakeLine explains go-plugin's "Unrecognized remote plugin
// message" with the line quoted, so that a plugin printing to stdout
// before Serve is recognisable from the daemon's log alone.
func BadHandshakeLine(line string) string {
	line = strings.TrimSpace(line)
	if line == "" {
		return "plugin exited or wrote no handshake line"
	}
	return "plugin wrote " + quoteLine(line) + " on stdout instead of the handshake line (stdout belongs to the handshake: log to stderr)"
}

// quoteLine makes untrusted plugin output safe for one log line:
// truncated, non-printable runes escaped, in quotes.
func quoteLine(s string) string {
	cut := false
	if len(s) > MaxQuotedLine {
		s, cut = s[:MaxQuotedLine], true
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	q := strconv.QuoteToGraphic(s)
	if cut {
		q += "..."
	}
	return q
}

// IncompatibleVersion rewrites go-plugin's version mismatch, whose list
// of versions comes from a map in random order, into a sorted, actionable
// line.
func IncompatibleVersion(msg string) string {
	_, rest, ok := strings.Cut(msg, "Plugin version: ")
	if !ok {
		return msg
	}
	pv, rest, ok := strings.Cut(rest, ",")
	if !ok {
		return msg
	}
	_, list, ok := strings.Cut(rest, "[")
	if !ok {
		return msg
	}
	list, _, _ = strings.Cut(list, "]")
	var ours []int
	for _, f := range strings.Fields(list) {
		if v, err := strconv.Atoi(f); err == nil {
			ours = append(ours, v)
		}
	}
	slices.Sort(ours)
	strs := make([]string, len(ours))
	for i, v := range ours {
		strs[i] = strconv.Itoa(v)
	}
	pv = strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return r
		}
		return -1
	}, pv)
	return fmt.Sprintf("incompatible API version: the plugin speaks plugin protocol version %s, this wgplex speaks %s; rebuild the plugin with an SDK that serves one of those",
		pv, strings.Join(strs, ", "))
}
