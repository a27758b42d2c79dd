// SPDX-License-Identifier: MIT

//go:build linux

package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWireproxyExamplesCheck runs "wgplex proxy -n" on wireproxy's
// example configurations (in proxy/proxyconf/testdata, written in
// wireproxy's layout): each must pass the check wgplex makes before it
// starts anything.
func TestWireproxyExamplesCheck(t *testing.T) {
	files, err := filepath.Glob("../../proxy/proxyconf/testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example files: %v", err)
	}
	dir := sharedDir(t)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if filepath.Base(f) == "wg0.conf" {
			continue // included by wireproxy_wgconfig.conf
		}
		p := &proc{runDir: dir}
		out, err := p.wgplex(t, "proxy", "-n", filepath.Join(dir, filepath.Base(f)))
		if err != nil || !strings.Contains(out, "configuration OK") {
			t.Errorf("%s: %v\n%s", filepath.Base(f), err, out)
		}
	}
}
