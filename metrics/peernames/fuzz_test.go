// SPDX-License-Identifier: MIT

package peernames_test

import (
	"encoding/base64"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/wgplex/wgplex/metrics/peernames"
)

// FuzzParse: whatever the file holds, the parser returns only valid
// keys and names that are safe label values, and the same for the same
// input.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Peer]\n# friendly_name = laptop\nPublicKey = 2S7mA0vEMethCNQrJpJKE81/JmhgtB+tHHLYQhgM6kk=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		names := peernames.Parse(data)
		for k, v := range names {
			raw, err := base64.StdEncoding.DecodeString(k)
			if err != nil || len(raw) != 32 || len(k) != 44 {
				t.Fatalf("invalid key %q accepted", k)
			}
			if !utf8.ValidString(v) || len(v) > 128 || v == "" {
				t.Fatalf("unsafe name %q for %s", v, k)
			}
		}
		if again := peernames.Parse(data); fmt.Sprint(again) != fmt.Sprint(names) {
			t.Fatal("not deterministic")
		}
	})
}
