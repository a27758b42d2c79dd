// SPDX-License-Identifier: MIT

//go:build linux

package plugins_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// TestPluginEnvironment: a plugin sees the base variables, those its kind
// reads and those named, and nothing else of the daemon's environment.
func TestPluginEnvironment(t *testing.T) {
	t.Setenv("WGPLEX_ETCD_PASSWORD", "secret-for-etcd-only")
	t.Setenv("WGPLEX_TEST_PASSED", "yes")
	t.Setenv("WGPLEX_PKCS11_PIN", "1234")
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600))
	cfg.PassEnv = append(append([]string(nil), plugins.DefaultPassEnv["keyvault"]...), "WGPLEX_TEST_PASSED")
	cfg.Env = []string{"EXTRA=1"}
	kv := startFileVault(t, cfg)
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", kv.Plugin().Pid()))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		k, v, _ := strings.Cut(string(kv), "=")
		env[k] = v
	}
	if _, ok := env["WGPLEX_ETCD_PASSWORD"]; ok {
		t.Fatal("the key vault got the etcd password")
	}
	for _, k := range []string{"WGPLEX_TEST_PASSED", "WGPLEX_PKCS11_PIN", "EXTRA", "PATH", "PLUGIN_PROTOCOL_VERSIONS"} {
		if _, ok := env[k]; !ok {
			t.Errorf("plugin lacks %s (has %v)", k, keys(env))
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPluginPinnedChecksum: a pinned plugin starts only if its binary has
// the pinned SHA-256.
func TestPluginPinnedChecksum(t *testing.T) {
	bin := pluginBin(t, "keyvault-file")
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	io.Copy(h, f)
	f.Close()
	key := writeKeyFile(t, newTestKey(t), 0o600)
	cfg := fastConfig(t, bin, "-key", key)
	cfg.SHA256 = h.Sum(nil)
	startFileVault(t, cfg)

	cfg = fastConfig(t, bin, "-key", key)
	cfg.SHA256 = make([]byte, sha256.Size)
	if _, err := plugins.StartKeyVault(cfg); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("a plugin with another checksum started: %v", err)
	}
	if _, err := plugins.ParseSHA256("abc"); err == nil {
		t.Fatal("a short checksum parsed")
	}
}

// TestPluginRunsAsAnotherUser: with User set, the plugin runs as that user
// without capabilities; the file key vault needs nothing more.
func TestPluginRunsAsAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to start a process as another user")
		}
		t.Skip("needs root to start a process as another user")
	}
	// A directory user nobody can enter, with the plugin and a key file of
	// its own.
	dir, err := os.MkdirTemp("", "wgplex-runas-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin, err := os.ReadFile(pluginBin(t, "keyvault-file"))
	if err != nil {
		t.Fatal(err)
	}
	exe := dir + "/keyvault-file"
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	key := writeKeyFile(t, newTestKey(t), 0o600)
	keyData, _ := os.ReadFile(key)
	own := dir + "/wg.key"
	if err := os.WriteFile(own, keyData, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(own, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(t, exe, "-key", own)
	cfg.User = "65534:65534"
	kv := startFileVault(t, cfg)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", kv.Plugin().Pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("plugin status lacks %q:\n%s", want, status)
		}
	}
	if _, err := kv.DH(randomPeer(t)); err != nil {
		t.Fatalf("the vault as nobody does not work: %v", err)
	}
	cfg.User = "no-such-user-wgplex"
	if _, err := plugins.StartKeyVault(cfg); err == nil || !strings.Contains(err.Error(), "no-such-user-wgplex") {
		t.Fatalf("an unknown user: %v", err)
	}
}

// TestFileVaultSignsRecords: with -signing-key, the file vault signs fleet
// records (and only those) under that key; without it, it has no such
// capability.
func TestFileVaultSignsRecords(t *testing.T) {
	dir := t.TempDir()
	signPath := dir + "/node.sign"
	sk, err := fleet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := fleet.WritePrivateKeyFile(signPath, sk); err != nil {
		t.Fatal(err)
	}
	key := writeKeyFile(t, newTestKey(t), 0o600)
	kv := startFileVault(t, fastConfig(t, pluginBin(t, "keyvault-file"), "-key", key, "-signing-key", signPath))
	msg := []byte(sdk.RecordMagic + "some record bytes")
	sig, pub, err := kv.SignRecord(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(sk.Public()) || !ed25519.Verify(pub, msg, sig) {
		t.Fatal("the vault's signature does not verify under its signing key")
	}
	if _, _, err := kv.SignRecord([]byte("WGFC\x01a certificate")); !errors.Is(err, sdk.ErrBadReply) {
		t.Fatalf("the vault was asked to sign a certificate: %v", err)
	}
	plain := startFileVault(t, fastConfig(t, pluginBin(t, "keyvault-file"), "-key", key))
	if _, _, err := plain.SignRecord(msg); !errors.Is(err, sdk.ErrNotSupported) {
		t.Fatalf("a vault without a signing key: %v, want ErrNotSupported", err)
	}
}
