// SPDX-License-Identifier: MIT

//go:build linux

package plugins_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/plugins"
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
