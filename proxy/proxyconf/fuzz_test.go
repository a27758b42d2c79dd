// SPDX-License-Identifier: MIT

package proxyconf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary files to the parser: it must return a File or
// an *Error, never panic, and a File it returns must have an interface
// part and no half of a credential pair.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.conf")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	wg0, err := os.ReadFile("testdata/wg0.conf")
	if err != nil {
		f.Fatal(err)
	}
	o := Options{
		LookupEnv: func(k string) (string, bool) { return "v", k == "SET" },
		ReadFile: func(p string) ([]byte, error) {
			if p == "wg0.conf" {
				return append([]byte(nil), wg0...), nil
			}
			return nil, errors.New("no such file")
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.conf", data, o)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if cfg.WG == nil {
			t.Fatal("a File without an interface")
		}
		for _, p := range append(cfg.Socks5, cfg.HTTP...) {
			if (p.Username == "") != (len(p.Password) == 0) {
				t.Fatal("half of a credential pair")
			}
		}
	})
}
