// SPDX-License-Identifier: MIT

package sdk

import (
	"encoding/json"
	"testing"
)

func TestParseReattach(t *testing.T) {
	good := `{"kind":"keyvault","protocol_version":1,"network":"unix","addr":"/tmp/plugin1","pid":42}`
	r, err := ParseReattach(good)
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Config(); c.Addr.String() != "/tmp/plugin1" || c.Pid != 42 || !c.Test {
		t.Fatalf("config %+v", c)
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `{"kind":"x","protocol_version":1,"network":"unix","addr":"/a","pid":1}`,
		`{"kind":"keyvault","protocol_version":0,"network":"unix","addr":"/a","pid":1}`,
		`{"kind":"keyvault","protocol_version":1,"network":"udp","addr":"/a","pid":1}`,
		`{"kind":"keyvault","protocol_version":1,"network":"tcp","addr":"nope","pid":1}`,
		`{"kind":"keyvault","protocol_version":1,"network":"unix","addr":"","pid":1}`,
		`{"kind":"keyvault","protocol_version":1,"network":"unix","addr":"/a","pid":0}`,
	} {
		if _, err := ParseReattach(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseReattach(f *testing.F) {
	f.Add(`{"kind":"keyvault","protocol_version":1,"network":"unix","addr":"/tmp/plugin1","pid":42}`)
	f.Add(`{"kind":"discovery","protocol_version":2,"network":"tcp","addr":"127.0.0.1:1234","pid":7}`)
	f.Add(`{"kind":"keyvault"`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReattach(s)
		if err != nil {
			return
		}
		// Whatever is accepted survives a round trip and yields a config.
		b, _ := json.Marshal(r)
		if r2, err := ParseReattach(string(b)); err != nil || r2 != r {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if r.Config() == nil {
			t.Fatal("nil config")
		}
	})
}
