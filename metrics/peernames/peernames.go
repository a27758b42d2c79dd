// SPDX-License-Identifier: MIT

// Package peernames reads the peer names that operators put in wg(8) and
// wg-quick(8) configuration files as comments. It is a package of its own,
// with nothing but the standard library below it, so that its fuzz target
// does not compile the metrics package's dependencies (the Prometheus
// client) a second time with coverage instrumentation.
package peernames

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"strings"
)

// Parse reads peer names from a wg(8) or wg-quick(8) configuration
// file. Operators name peers with a comment inside the [Peer] section,
// because the file format has no name field:
//
//	[Peer]
//	# friendly_name = laptop     (prometheus_wireguard_exporter's convention)
//	# Name = laptop              (wg-easy, wg-gen-web and hand-written files)
//	PublicKey = 2S7mA0vEMethCNQrJpJKE81/JmhgtB+tHHLYQhgM6kk=
//
// Only [Peer] sections are looked at, and in them only PublicKey and those
// two comments; keys are matched without regard to case, like wg-quick
// does. When a section has both comments, friendly_name wins, so that a
// file written for that exporter keeps its labels. A section without a
// valid public key is skipped rather than failing the whole file: a names
// file is a convenience and a typo must not take every name away. The map
// is keyed by the base64 public key as wg(8) prints it.
func Parse(data []byte) map[string]string {
	names := make(map[string]string)
	var (
		inPeer       bool
		key          string
		name, friend string
	)
	flush := func() {
		if inPeer && key != "" {
			switch {
			case friend != "":
				names[key] = friend
			case name != "":
				names[key] = name
			}
		}
		key, name, friend = "", "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			flush()
			inPeer = strings.EqualFold(strings.TrimSpace(strings.Trim(line, "[]")), "peer")
			continue
		}
		if !inPeer || line == "" {
			continue
		}
		if comment, ok := strings.CutPrefix(line, "#"); ok {
			k, v, ok := strings.Cut(comment, "=")
			if !ok {
				continue
			}
			v = labelSafe(strings.TrimSpace(v))
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "friendly_name":
				friend = v
			case "name":
				name = v
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "publickey") {
			continue
		}
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = v[:i]
		}
		v = strings.TrimSpace(v)
		if validKey(v) {
			key = v
		}
	}
	// A line longer than the scanner's limit ends the scan; what was read
	// up to there is still good.
	flush()
	return names
}

// validKey reports whether s is a base64 Curve25519 key as wg(8) prints it.
func validKey(s string) bool {
	if len(s) != 44 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// labelSafe bounds a name taken from a file before it becomes a label
// value: valid UTF-8 (the exposition format requires it) and at most 128
// bytes, so that a mistake in the file cannot blow up every series.
func labelSafe(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxNameLen {
		s = s[:maxNameLen]
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

const maxNameLen = 128
