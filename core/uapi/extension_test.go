// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
)

func TestExtensionLinesRoundTrip(t *testing.T) {
	var pub core.PublicKey
	pub[0] = 9
	s := core.Snapshot{PublicKey: pub, ListenPort: 51820, Peers: []core.PeerSnapshot{{PublicKey: core.PublicKey{1}}}}
	ext := []Extension{
		{PluginExtension, `{"name":"vault","up":true,"last_error":"a=b"}`},
		{PluginExtension, `{"name":"disc","up":false}`},
		{"wgplex_bad\nkey", "x"},                     // refused: newline in the key
		{PluginExtension, "two\nlines"},              // refused: newline in the value
		{"listen_port", "1"},                         // refused: not an extension key
		{PublicKeyExtension, "00"},                   // refused: written from the snapshot only
		{PluginExtension, strings.Repeat("x", 4097)}, // refused: too long
	}
	var buf bytes.Buffer
	if err := WriteGetExtended(&buf, s, ext); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Extensions sit among the device keys, before the first peer.
	if i, j := strings.Index(out, PluginExtension+"="), strings.Index(out, "\npublic_key="); i < 0 || i > j {
		t.Fatalf("extension not before the peers:\n%s", out)
	}
	if strings.Count(out, PluginExtension+"=") != 2 || strings.Contains(out, "wgplex_bad") {
		t.Fatalf("refused extensions written:\n%s", out)
	}
	var got []Extension
	back, err := readGetExt(bufio.NewReader(strings.NewReader(out+"errno=0\n\n")), &got)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != ext[0] || got[1] != ext[1] {
		t.Fatalf("extensions back: %q", got)
	}
	if back.PublicKey != pub || back.ListenPort != 51820 || len(back.Peers) != 1 {
		t.Fatalf("snapshot back: %+v", back)
	}
	// The plain reader, as wg(8), skips them.
	if plain, err := readGet(bufio.NewReader(strings.NewReader(out + "errno=0\n\n"))); err != nil || plain.ListenPort != 51820 {
		t.Fatalf("plain read: %v", err)
	}
}

func TestExtensionLinesBounded(t *testing.T) {
	var b strings.Builder
	for range maxExtensions + 10 {
		b.WriteString(PluginExtension + "={}\n")
	}
	b.WriteString("errno=0\n\n")
	var got []Extension
	if _, err := readGetExt(bufio.NewReader(strings.NewReader(b.String())), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != maxExtensions {
		t.Fatalf("kept %d extension lines, want the bound %d", len(got), maxExtensions)
	}
}

func FuzzReadGetExtended(f *testing.F) {
	f.Add("wgplex_plugin={\"name\":\"v\"}\nlisten_port=1\nerrno=0\n\n")
	f.Add("wgplex_public_key=" + strings.Repeat("ab", 32) + "\nwgplex_x=\npublic_key=" + strings.Repeat("cd", 32) + "\nwgplex_plugin=late\nerrno=0\n\n")
	f.Add("wgplex_plugin\nerrno=0\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var ext []Extension
		if _, err := readGetExt(bufio.NewReader(strings.NewReader(in)), &ext); err != nil {
			return
		}
		if len(ext) > maxExtensions {
			t.Fatalf("%d extensions kept", len(ext))
		}
		for _, e := range ext {
			if !strings.HasPrefix(e.Key, extensionPrefix) || strings.ContainsRune(e.Value, '\n') {
				t.Fatalf("bad extension %q", e)
			}
		}
	})
}
