// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/fleet"
)

func fleetRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	rc := run(append([]string{"fleet"}, args...), nil, &out, &errb)
	return out.String() + errb.String(), rc
}

func TestFleetCommands(t *testing.T) {
	d := t.TempDir()
	p := func(n string) string { return filepath.Join(d, n) }
	if out, rc := fleetRun(t, "init-ca", "-name", "acme", "-key", p("ca.key"), "-pub", p("ca.pub")); rc != 0 {
		t.Fatalf("init-ca: %d %s", rc, out)
	}
	st, err := os.Stat(p("ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", st.Mode(), err)
	}
	if out, rc := fleetRun(t, "init-ca", "-key", p("ca.key"), "-pub", p("other.pub")); rc == 0 || !strings.Contains(out, "ca.key") {
		t.Fatalf("init-ca overwrote the CA key: %d %s", rc, out)
	}
	if _, rc := fleetRun(t, "genkey", "-key", p("node.sign")); rc != 0 {
		t.Fatal("genkey failed")
	}
	if out, rc := fleetRun(t, "genkey", "-key", p("node.sign")); rc == 0 {
		t.Fatalf("genkey overwrote a key: %s", out)
	}
	wg := "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
	out, rc := fleetRun(t, "sign", "-ca-key", p("ca.key"), "-public-key", wg, "-signing-key", p("node.sign"),
		"-name", "n1", "-prefixes", "10.9.0.1/32,fd09::1", "-endpoint-nets", "192.0.2.0/24", "-serial", "42", "-out", p("n1.cert"))
	if rc != 0 {
		t.Fatalf("sign: %s", out)
	}
	out, rc = fleetRun(t, "show", p("n1.cert"))
	for _, want := range []string{"n1", "serial:        42", "10.9.0.1/32, fd09::1/128", "192.0.2.0/24", wg} {
		if rc != 0 || !strings.Contains(out, want) {
			t.Fatalf("show lacks %q: %s", want, out)
		}
	}
	if out, rc = fleetRun(t, "revoke", "-ca-key", p("ca.key"), "-list", p("rl"), "42", "7"); rc != 0 {
		t.Fatalf("revoke: %s", out)
	}
	if out, rc = fleetRun(t, "revoke", "-ca-key", p("ca.key"), "-list", p("rl"), "9"); rc != 0 {
		t.Fatalf("revoke again: %s", out)
	}
	raw, err := fleet.ReadFile(p("rl"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := fleet.ParseRevocationList(raw)
	if err != nil || len(l.Serials) != 3 || !l.Revoked(42) || !l.Revoked(9) {
		t.Fatalf("list: %v %+v", err, l)
	}
	if out, rc = fleetRun(t, "show", p("ca.pub")); rc != 0 || !strings.Contains(out, "acme") {
		t.Fatalf("show CA: %s", out)
	}
	os.WriteFile(p("junk"), []byte("WGFCjunk"), 0o644)
	if out, rc = fleetRun(t, "show", p("junk")); rc != 1 || !strings.Contains(out, "malformed") {
		t.Fatalf("show junk: %d %s", rc, out)
	}
}

func TestDiscoveredList(t *testing.T) {
	p := filepath.Join(t.TempDir(), "wg0.discovered")
	got, err := readDiscovered(p)
	if err != nil || len(got) != 0 {
		t.Fatalf("missing list: %v %v", got, err)
	}
	var a, b core.PublicKey
	a[0], b[0] = 1, 2
	if err := writeDiscovered(p, []core.PublicKey{a, b}); err != nil {
		t.Fatal(err)
	}
	got, err = readDiscovered(p)
	if err != nil || len(got) != 2 || !got[a] || !got[b] {
		t.Fatalf("list read back: %v %v", got, err)
	}
}
