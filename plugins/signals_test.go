// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
)

// TestStrayStdoutLineQuoted: a plugin that prints before Serve must be
// recognisable from the error alone, with the line made safe to log.
func TestStrayStdoutLineQuoted(t *testing.T) {
	_, err := plugins.StartKeyVault(fastConfig(t, pluginBin(t, "badvault"), "-mode", "stdout"))
	if err == nil {
		t.Fatal("a plugin without a handshake line started")
	}
	if want := `plugin wrote "hello from main\x1b[31m" on stdout`; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if strings.ContainsRune(err.Error(), 0x1b) {
		t.Fatal("the error carries a raw escape character")
	}
	_, err = plugins.StartKeyVault(fastConfig(t, pluginBin(t, "badvault"), "-mode", "stdout-long"))
	if err == nil {
		t.Fatal("a plugin without a handshake line started")
	}
	if strings.Contains(err.Error(), strings.Repeat("A", 81)) || !strings.Contains(err.Error(), strings.Repeat("A", 80)+`"...`) {
		t.Fatalf("long line not truncated to 80 bytes: %v", err)
	}
	if strings.Contains(err.Error(), "plugin stderr: ") && strings.HasSuffix(err.Error(), "plugin stderr: ") {
		t.Fatalf("empty stderr quoted: %v", err)
	}
}

// TestRestartLogSignals: a restart is visible at the default level (WARN),
// and no log line names the plugin twice.
func TestRestartLogSignals(t *testing.T) {
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600))
	log, logs := newLogger(t)
	cfg.Logger = log
	kv := startFileVault(t, cfg)
	syscall.Kill(kv.Plugin().Pid(), syscall.SIGKILL)
	eventually(t, 10*time.Second, "restart", func() bool { return kv.Plugin().Restarts() > 0 && kv.Plugin().Up() })
	kv.Close()
	if !strings.Contains(logs.String(), `level=WARN msg="Plugin restarted"`) {
		t.Errorf("restart not logged at WARN:\n%s", logs)
	}
	for _, l := range strings.Split(logs.String(), "\n") {
		for _, key := range []string{"plugin", "kind", "timestamp"} {
			if n := len(regexp.MustCompile(`(^| )`+key+`=`).FindAllString(l, -1)); n > 1 {
				t.Errorf("%s= %d times in %q", key, n, l)
			}
		}
	}
}

// TestNoRepeatedTextInErrors: a refused argument says "malformed key
// vault message" once, not once per side of the connection.
func TestNoRepeatedTextInErrors(t *testing.T) {
	kv := startFileVault(t, fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600)))
	_, err := kv.DH(core.PublicKey{})
	if err == nil {
		t.Fatal("DH with the all-zero key succeeded")
	}
	if n := strings.Count(err.Error(), "malformed key vault message"); n != 1 {
		t.Fatalf("%q says it %d times", err, n)
	}
}

// TestKilledPluginLeavesNoSocket: the plugin's socket lives in a directory
// of its own that the daemon removes after a SIGKILL, a restart and Close.
func TestKilledPluginLeavesNoSocket(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	entries := func() []string {
		m, _ := filepath.Glob(filepath.Join(tmp, "*"))
		return m
	}
	kv := startFileVault(t, fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600)))
	dirs := entries()
	if len(dirs) != 1 || !strings.HasPrefix(filepath.Base(dirs[0]), "wgplex-plugin-") {
		t.Fatalf("want one plugin socket directory in %s, found %v", tmp, dirs)
	}
	socks, _ := filepath.Glob(filepath.Join(dirs[0], "*"))
	if len(socks) != 1 {
		t.Fatalf("want the plugin's socket in %s, found %v", dirs[0], socks)
	}
	if fi, err := os.Lstat(socks[0]); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is not a socket (%v)", socks[0], err)
	}
	syscall.Kill(kv.Plugin().Pid(), syscall.SIGKILL)
	eventually(t, 10*time.Second, "restart", func() bool { return kv.Plugin().Restarts() > 0 && kv.Plugin().Up() })
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Errorf("the killed plugin's directory %s is still there (%v)", dirs[0], err)
	}
	if n := len(entries()); n != 1 {
		t.Errorf("%d directories after the restart, want 1: %v", n, entries())
	}
	kv.Close()
	if left := entries(); len(left) != 0 {
		t.Fatalf("left behind after Close: %v", left)
	}
}

// TestCallsCounter counts calls by outcome: answered, refused by the
// plugin, and made while the plugin was down.
func TestCallsCounter(t *testing.T) {
	m := plugins.NewMetrics()
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600))
	cfg.Metrics, cfg.Name, cfg.HealthInterval = m, "fv", time.Hour
	kv := startFileVault(t, cfg)
	for range 3 {
		if _, err := kv.DH(randomPeer(t)); err != nil {
			t.Fatal(err)
		}
	}
	kv.DH(core.PublicKey{})
	kv.Close()
	kv.DH(randomPeer(t))
	const series = "wgplex_plugin_calls_total"
	for _, tc := range []struct {
		code string
		want float64
	}{{"OK", 3}, {"InvalidArgument", 1}, {"Unavailable", 1}} {
		got := callCount(t, m, "fv", "DH", tc.code)
		if got != tc.want {
			t.Errorf("%s{method=DH,code=%s} = %v, want %v", series, tc.code, got, tc.want)
		}
	}
}

// callCount reads one wgplex_plugin_calls_total series from m.
func callCount(t *testing.T, m *plugins.Metrics, plugin, method, code string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"plugin": plugin, "method": method, "code": code}
	for _, mf := range mfs {
		if mf.GetName() != "wgplex_plugin_calls_total" {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// TestVaultSelfCheckRefusesWrongKey: a vault that computes DH with another
// key than the one it reports is refused at start, by name.
func TestVaultSelfCheckRefusesWrongKey(t *testing.T) {
	cfg := fastConfig(t, pluginBin(t, "badvault"), "-mode", "wrong-dh")
	cfg.Name = "hsm-left"
	_, err := plugins.StartKeyVault(cfg)
	if !errors.Is(err, plugins.ErrVaultInconsistent) {
		t.Fatalf("start: %v, want ErrVaultInconsistent", err)
	}
	if !strings.Contains(err.Error(), "plugin hsm-left") || strings.Count(err.Error(), "hsm-left") != 1 {
		t.Fatalf("the error does not name the vault: %v", err)
	}
	t.Log(err)
	// The consistent vaults pass it (every other test starts one); this one
	// also passes on restart.
	kv := startFileVault(t, fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600)))
	syscall.Kill(kv.Plugin().Pid(), syscall.SIGKILL)
	eventually(t, 10*time.Second, "restart", func() bool { return kv.Plugin().Restarts() > 0 && kv.Plugin().Up() })
}

// TestVaultSelfCheckOnRestart: a vault that comes back from a crash
// computing with another key (same public key reported) is refused at the
// restart, and DH fails instead of producing wrong secrets.
func TestVaultSelfCheckOnRestart(t *testing.T) {
	key := newTestKey(t)
	seed := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(seed, key.priv, 0o600); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "started-once")
	cfg := fastConfig(t, pluginBin(t, "badvault"), "-key", seed, "-wrong-dh-after", marker)
	log, logs := newLogger(t)
	cfg.Logger, cfg.Name = log, "flaky-hsm"
	kv := startFileVault(t, cfg)
	if _, err := kv.DH(randomPeer(t)); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(kv.Plugin().Pid(), syscall.SIGKILL)
	eventually(t, 10*time.Second, "the restart refused by the self-check", func() bool {
		return strings.Contains(logs.String(), "Plugin restart failed") && strings.Contains(logs.String(), plugins.ErrVaultInconsistent.Error())
	})
	if kv.Plugin().Up() {
		t.Fatal("the inconsistent vault was let in")
	}
	if st := kv.Plugin().State(); !strings.Contains(st.LastError, "plugin flaky-hsm") {
		t.Errorf("last error %q does not name the vault", st.LastError)
	}
	if _, err := kv.DH(randomPeer(t)); !errors.Is(err, plugins.ErrPluginDown) {
		t.Fatalf("DH with the vault refused: %v", err)
	}
}
