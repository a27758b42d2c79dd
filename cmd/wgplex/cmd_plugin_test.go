// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPluginNewCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "v")
	var out, errb bytes.Buffer
	if rc := run([]string{"plugin", "new", "--no-tidy", "keyvault", "my-vault", dir}, nil, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The test runs inside the checkout: the module is built against it.
	if !strings.Contains(string(mod), "replace github.com/wgplex/wgplex => /") {
		t.Errorf("go.mod does not point at the checkout:\n%s", mod)
	}
	if !strings.Contains(out.String(), "--keyvault") {
		t.Errorf("no next steps in:\n%s", out.String())
	}
	for _, args := range [][]string{
		{"plugin"}, {"plugin", "new", "keyvault"}, {"plugin", "new", "vault", "x", t.TempDir()},
		{"plugin", "new", "--no-tidy", "keyvault", "x", dir}, // not empty now
	} {
		out.Reset()
		errb.Reset()
		if rc := run(args, nil, &out, &errb); rc == 0 || errb.Len() == 0 {
			t.Errorf("%v: rc %d, stderr %q", args, rc, errb.String())
		}
	}
}
