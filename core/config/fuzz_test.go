// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary files to the parser. Whatever parses must
// format to text that parses to the same File (but for source positions)
// and formats identically, and must convert to a change set without
// panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Interface]\nPrivateKey = " + privB64 + "\nListenPort = 51820\n\n[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs = 10.0.0.0/8\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.conf", bytes.NewReader(data))
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		out := cfg.String()
		again, err := Parse("fuzz.conf", bytes.NewReader([]byte(out)))
		if err != nil {
			t.Fatalf("formatted file does not parse: %v\n%s", err, out)
		}
		if out2 := again.String(); out2 != out {
			t.Fatalf("format not stable:\n%s\n---\n%s", out, out2)
		}
		// Formatting writes a wg-quick key exactly when one has an effect,
		// so the formatted file is wg(8)-only when the original's
		// wg-quick keys (if any) set nothing.
		if quick := again.WGOnly() != nil; quick != cfg.Interface.HasQuickKeys() || quick && cfg.WGOnly() == nil {
			t.Fatalf("formatted file is wg-quick-only: %v, original has wg-quick settings: %v\n%s", quick, cfg.Interface.HasQuickKeys(), out)
		}
		stripLines(cfg)
		stripLines(again)
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the file:\n%+v\n%+v", cfg, again)
		}
		resolve := func(string) (netip.AddrPort, error) { return netip.MustParseAddrPort("192.0.2.1:1"), nil }
		if _, err := cfg.SetConf(resolve); err != nil {
			t.Fatalf("SetConf: %v", err)
		}
	})
}
