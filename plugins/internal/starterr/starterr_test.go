// SPDX-License-Identifier: MIT

package starterr

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestIncompatibleVersion(t *testing.T) {
	got := IncompatibleVersion("incompatible API version with plugin. Plugin version: 3, Client versions: [2 1]")
	want := "incompatible API version: the plugin speaks plugin protocol version 3, this wgplex speaks 1, 2; rebuild the plugin with an SDK that serves one of those"
	if got != want {
		t.Fatalf("got %q", got)
	}
	if odd := "incompatible API version, somehow"; IncompatibleVersion(odd) != odd {
		t.Fatal("an unknown form was not kept as it is")
	}
}

// FuzzStartErrorText: whatever a plugin prints instead of the handshake,
// and whatever go-plugin's version message holds, the daemon's error is
// one bounded line of valid UTF-8.
func FuzzStartErrorText(f *testing.F) {
	f.Add("hello from main\x1b[31m")
	f.Add(strings.Repeat("A", 500))
	f.Add("\xff\xfe|1|unix")
	f.Add("incompatible API version with plugin. Plugin version: 3, Client versions: [1 2]")
	f.Fuzz(func(t *testing.T, s string) {
		for _, msg := range []string{BadHandshakeLine(s), IncompatibleVersion(s)} {
			if strings.ContainsAny(msg, "\n\r\x1b") && msg != s {
				t.Fatalf("control characters in %q", msg)
			}
		}
		q := BadHandshakeLine(s)
		if !utf8.ValidString(q) || len(q) > 4*MaxQuotedLine+200 {
			t.Fatalf("%d bytes, valid UTF-8 %v: %q", len(q), utf8.ValidString(q), q)
		}
	})
}
