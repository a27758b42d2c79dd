// SPDX-License-Identifier: MIT

//go:build cgo

package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// softHSMModule is where Debian's softhsm2 package puts the module.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
}

// newSoftHSMToken initialises a fresh SoftHSM2 token in a temporary
// directory and returns the options to reach it. It skips the test when
// SoftHSM2 is not installed (fails under CI=true).
func newSoftHSMToken(t *testing.T) options {
	t.Helper()
	module := ""
	for _, m := range softHSMModules {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	util, err := exec.LookPath("softhsm2-util")
	if module == "" || err != nil {
		msg := "SoftHSM2 not installed (apt-get install softhsm2)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.MkdirAll(filepath.Join(dir, "tokens"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command(util, "--init-token", "--free", "--label", "wgtest", "--pin", "1234", "--so-pin", "12345678").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return options{module: module, token: "wgtest", label: "wg0", pin: "1234", sessions: 2}
}

func TestSoftHSMX25519(t *testing.T) {
	o := newSoftHSMToken(t)
	v, err := openToken(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.PublicKey(ctx); !errors.Is(err, sdk.ErrNoKey) {
		t.Fatalf("PublicKey on an empty token: %v, want ErrNoKey", err)
	}
	pub, err := v.GenerateKey(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.GenerateKey(ctx, false); !errors.Is(err, sdk.ErrKeyExists) {
		t.Fatalf("second GenerateKey: %v, want ErrKeyExists", err)
	}
	for range 5 {
		peer, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.DH(ctx, sdk.Key(peer.PublicKey().Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		tokenPub, err := ecdh.X25519().NewPublicKey(pub[:])
		if err != nil {
			t.Fatal(err)
		}
		want, err := peer.ECDH(tokenPub)
		if err != nil {
			t.Fatal(err)
		}
		if got != sdk.Key(want) {
			t.Fatalf("token X25519 %x, want %x", got, want)
		}
	}
	t.Logf("DH input form: DER-wrapped=%v", v.derDeriveInput.Load())

	// A restarted plugin's view: a fresh open finds the same key.
	v.close()
	v2, err := openToken(o)
	if err != nil {
		t.Fatal(err)
	}
	defer v2.close()
	if got, err := v2.PublicKey(ctx); err != nil || got != pub {
		t.Fatalf("reopened token: %x, %v; want %x", got, err, pub)
	}
}
