// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/internal/testbuild"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
)

var (
	pkcs11Once sync.Once
	pkcs11Bin  string
	pkcs11Err  error
)

// softHSM prepares a fresh SoftHSM2 token and returns the command line of
// the PKCS#11 vault plugin for it. The plugin is built on first use (it
// needs cgo). Without SoftHSM2 the caller is skipped (failed under
// CI=true).
func softHSM(t testing.TB) []string {
	t.Helper()
	module := ""
	for _, m := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(m); err == nil {
			module = m
			break
		}
	}
	if _, err := exec.LookPath("softhsm2-util"); err != nil || module == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SoftHSM2 missing")
		}
		t.Skip("SoftHSM2 missing (apt-get install softhsm2)")
	}
	pkcs11Once.Do(func() {
		dir := pluginBin(t, "keyvault-file") // makes binDir
		pkcs11Err = testbuild.Build(".", filepath.Dir(dir)+"/", true, "./keyvault-pkcs11")
		pkcs11Bin = filepath.Join(filepath.Dir(dir), "keyvault-pkcs11")
	})
	if pkcs11Err != nil {
		t.Fatal(pkcs11Err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+dir+"/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The plugin inherits the environment of the host, as from the daemon.
	t.Setenv("SOFTHSM2_CONF", conf)
	t.Setenv("WGPLEX_PKCS11_PIN", "1234")
	if out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", "1234", "--so-pin", "12345678").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	return []string{pkcs11Bin, "-module", module, "-token", "bench", "-label", "wg0"}
}

func TestPKCS11VaultThroughHost(t *testing.T) {
	cfg := fastConfig(t, softHSM(t)...)
	pub, err := plugins.GenerateKey(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	kv := startFileVault(t, cfg)
	if kv.PublicKey() != pub {
		t.Fatalf("vault key %s, generated %s", kv.PublicKey(), pub)
	}
	check := func() {
		t.Helper()
		peer, _ := ecdh.X25519().GenerateKey(rand.Reader)
		got, err := kv.DH(core.PublicKey(peer.PublicKey().Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		tokenPub, _ := ecdh.X25519().NewPublicKey(pub[:])
		want, _ := peer.ECDH(tokenPub)
		if got != [32]byte(want) {
			t.Fatal("token X25519 differs from the reference")
		}
	}
	check()
	pid := kv.Plugin().Pid()
	syscall.Kill(pid, syscall.SIGKILL)
	eventually(t, 10*time.Second, "restart", func() bool { return kv.Plugin().Up() && kv.Plugin().Pid() != pid })
	check()
}

// BenchmarkDHPKCS11 is BenchmarkDH's vault case with the key in SoftHSM2.
func BenchmarkDHPKCS11(b *testing.B) {
	cfg := fastConfig(b, softHSM(b)...)
	cfg.HealthInterval = time.Hour
	if _, err := plugins.GenerateKey(cfg, false); err != nil {
		b.Fatal(err)
	}
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer kv.Close()
	peer := core.PublicKey(newTestKey(b).pub)
	for b.Loop() {
		if _, err := kv.DH(peer); err != nil {
			b.Fatal(err)
		}
	}
}
