// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"log/slog"
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

// TestDiscoveryTrustOptions: files that cannot be used stop the daemon
// with one line naming them; good ones make a policy and an identity.
func TestDiscoveryTrustOptions(t *testing.T) {
	d := t.TempDir()
	p := func(n string) string { return filepath.Join(d, n) }
	fleetRun(t, "init-ca", "-key", p("ca.key"), "-pub", p("ca.pub"))
	fleetRun(t, "genkey", "-key", p("n.sign"))
	wg := "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
	if out, rc := fleetRun(t, "sign", "-ca-key", p("ca.key"), "-public-key", wg, "-signing-key", p("n.sign"),
		"-name", "n", "-prefixes", "10.9.0.1/32", "-out", p("n.cert")); rc != 0 {
		t.Fatal(out)
	}
	fleetRun(t, "revoke", "-ca-key", p("ca.key"), "-list", p("rl"), "5")
	os.WriteFile(p("junk"), []byte("not a key\n"), 0o600)
	log := slog.New(slog.DiscardHandler)
	dp, _ := declared(&discoveryPart{})
	env := &daemonEnv{Log: log, Plugins: newPluginHost()}
	set := func(ca, cert, key, rl, allow string) {
		*dp.ca, *dp.cert, *dp.signingKey = ca, cert, key
		*dp.revocations, *dp.allow = rl, allow
	}
	for _, tc := range []struct {
		ca, cert, key, rl, allow string
		want                     string
	}{
		{ca: p("missing.pub"), want: "--discovery-ca " + p("missing.pub")},
		{ca: p("junk"), want: "--discovery-ca " + p("junk")},
		{ca: p("ca.pub"), cert: p("n.cert"), key: p("missing.sign"), want: "--discovery-signing-key " + p("missing.sign")},
		{ca: p("ca.pub"), cert: p("n.cert"), key: p("ca.key"), want: "not the signing key"},
		{ca: p("ca.pub"), cert: p("junk"), key: p("n.sign"), want: "--discovery-cert " + p("junk")},
		{ca: p("ca.pub"), rl: p("junk"), want: "--discovery-revocations " + p("junk")},
		{ca: p("ca.pub"), allow: "10.0.0.0/8", want: "--discovery-allow applies without a CA"},
		{allow: "nonsense", want: "--discovery-allow"},
	} {
		set(tc.ca, tc.cert, tc.key, tc.rl, tc.allow)
		_, _, _, err := dp.trust(env)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want one line with %q", tc, err, tc.want)
		}
	}
	os.Chmod(p("n.sign"), 0o644)
	set(p("ca.pub"), p("n.cert"), p("n.sign"), "", "")
	if _, _, _, err := dp.trust(env); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a readable signing key: %v", err)
	}
	os.Chmod(p("n.sign"), 0o600)
	set(p("ca.pub"), p("n.cert"), p("n.sign"), p("rl"), "")
	pol, id, stop, err := dp.trust(env)
	if err != nil || pol.Roots.Len() != 1 || id == nil || id.Key == nil || pol.Revocations() == nil {
		t.Fatalf("good options: %v", err)
	}
	stop()
}
