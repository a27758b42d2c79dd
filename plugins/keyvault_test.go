// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
	keyvaultv1 "github.com/wgplex/wgplex/plugins/proto/keyvault/v1"
	"github.com/wgplex/wgplex/plugins/sdk"
)

func randomPeer(t testing.TB) core.PublicKey {
	t.Helper()
	return core.PublicKey(newTestKey(t).pub)
}

func startFileVault(t testing.TB, cfg plugins.Config) *plugins.KeyVault {
	t.Helper()
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kv.Close() })
	return kv
}

func TestFileVaultPublicKeyAndDH(t *testing.T) {
	key := newTestKey(t)
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, key, 0o600))
	kv := startFileVault(t, cfg)
	if kv.PublicKey() != core.PublicKey(key.pub) {
		t.Fatalf("public key %s, want %s", kv.PublicKey(), core.PublicKey(key.pub))
	}
	for range 10 {
		peer := randomPeer(t)
		got, err := kv.DH(peer)
		if err != nil {
			t.Fatal(err)
		}
		if want := key.dh(t, peer); got != want {
			t.Fatalf("DH mismatch: got %x, want %x", got, want)
		}
	}
	// A low-order point gives an all-zero result: an error, not a key.
	if _, err := kv.DH(core.PublicKey{}); !errors.Is(err, core.ErrKeyStore) {
		t.Fatalf("DH with the zero point: %v, want ErrKeyStore", err)
	}
}

func TestFileVaultRefusesReadableKeyFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		path := writeKeyFile(t, newTestKey(t), mode)
		_, err := plugins.StartKeyVault(fastConfig(t, pluginBin(t, "keyvault-file"), "-key", path))
		if err == nil || !strings.Contains(err.Error(), "lets group or others access") {
			t.Errorf("mode %04o: %v, want a refusal", mode, err)
		}
	}
}

func TestFileVaultWithoutKey(t *testing.T) {
	path := t.TempDir() + "/missing.key"
	_, err := plugins.StartKeyVault(fastConfig(t, pluginBin(t, "keyvault-file"), "-key", path))
	if !errors.Is(err, sdk.ErrNoKey) || !strings.Contains(err.Error(), "vault-genkey") {
		t.Fatalf("start without a key file: %v, want ErrNoKey with a hint", err)
	}
}

func TestFileVaultGenerateKey(t *testing.T) {
	path := t.TempDir() + "/wg.key"
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", path)
	pub, err := plugins.GenerateKey(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	kv := startFileVault(t, cfg)
	if kv.PublicKey() != pub {
		t.Fatalf("vault serves %s, vault-genkey reported %s", kv.PublicKey(), pub)
	}
	if _, err := plugins.GenerateKey(cfg, false); !errors.Is(err, sdk.ErrKeyExists) {
		t.Fatalf("second GenerateKey: %v, want ErrKeyExists", err)
	}
	pub2, err := plugins.GenerateKey(cfg, true)
	if err != nil || pub2 == pub {
		t.Fatalf("GenerateKey with overwrite: %v, %s", err, pub2)
	}
}

func TestVaultRestartsAfterKill9(t *testing.T) {
	key := newTestKey(t)
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, key, 0o600))
	metrics := plugins.NewMetrics()
	cfg.Metrics = metrics
	cfg.Name = "vault0"
	log, logs := newLogger(t)
	cfg.Logger = log
	kv := startFileVault(t, cfg)
	p := kv.Plugin()
	peer := randomPeer(t)
	if _, err := kv.DH(peer); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, metrics, "wgplex_plugin_up", "vault0"); got != 1 {
		t.Fatalf("wgplex_plugin_up = %v, want 1", got)
	}

	pid := p.Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Until the supervisor has noticed, calls fail on the broken
	// connection; after, they fail as "not running". Either way they wrap
	// core.ErrKeyStore, which is all the core needs.
	_, err := kv.DH(peer)
	if !errors.Is(err, core.ErrKeyStore) {
		t.Fatalf("DH right after kill -9: %v, want ErrKeyStore", err)
	}
	eventually(t, 10*time.Second, "restart", func() bool {
		return p.Restarts() >= 1 && p.Up() && p.Pid() != pid
	})
	got, err := kv.DH(peer)
	if err != nil {
		t.Fatalf("DH after restart: %v", err)
	}
	if got != key.dh(t, peer) {
		t.Fatal("DH after restart gives a different result")
	}
	if !processGone(pid) {
		t.Errorf("killed plugin %d still exists", pid)
	}
	if n := metricValue(t, metrics, "wgplex_plugin_restarts_total", "vault0"); n < 1 {
		t.Errorf("wgplex_plugin_restarts_total = %v, want >= 1", n)
	}
	if got := metricValue(t, metrics, "wgplex_plugin_up", "vault0"); got != 1 {
		t.Errorf("wgplex_plugin_up = %v after restart, want 1", got)
	}
	if n := histogramCount(t, metrics, "wgplex_plugin_call_duration_seconds", "DH"); n < 2 {
		t.Errorf("DH call-duration histogram holds %d calls, want >= 2", n)
	}
	for _, want := range []string{"Plugin down, restarting", "Plugin restarted", "plugin=vault0"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestVaultClosedLeavesNoProcess(t *testing.T) {
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600))
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pid := kv.Plugin().Pid()
	if pid == 0 || processGone(pid) {
		t.Fatalf("plugin pid %d not running", pid)
	}
	kv.Close()
	eventually(t, 5*time.Second, "plugin process gone after Close", func() bool { return processGone(pid) })
	if _, err := kv.DH(randomPeer(t)); !errors.Is(err, core.ErrKeyStore) || !errors.Is(err, plugins.ErrPluginDown) {
		t.Fatalf("DH after Close: %v", err)
	}
}

func TestHungVaultTimesOut(t *testing.T) {
	cfg := fastConfig(t, pluginBin(t, "badvault"), "-mode", "hang")
	cfg.CallTimeout = 300 * time.Millisecond
	log, logs := newLogger(t)
	cfg.Logger = log
	kv := startFileVault(t, cfg)
	start := time.Now()
	_, err := kv.DH(randomPeer(t))
	if !errors.Is(err, core.ErrKeyStore) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DH on a hung vault: %v, want ErrKeyStore and a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("DH took %v with a 300ms call timeout", d)
	}
	if !strings.Contains(logs.String(), `msg="Plugin call failed" plugin=badvault kind=keyvault method=DH`) ||
		!strings.Contains(logs.String(), "no answer within 300ms") {
		t.Errorf("the failed call is not in the log:\n%s", logs)
	}
	// PublicKey still answers, so the plugin is healthy and stays.
	if !kv.Plugin().Up() || kv.Plugin().Restarts() != 0 {
		t.Fatalf("hung DH should not take the plugin down (up=%v restarts=%d)", kv.Plugin().Up(), kv.Plugin().Restarts())
	}
	// Closing does not wait for the hung call: the plugin is asked to
	// stop, then killed.
	pid := kv.Plugin().Pid()
	start = time.Now()
	kv.Close()
	eventually(t, 5*time.Second, "hung plugin gone after Close", func() bool { return processGone(pid) })
	t.Logf("closed a hung vault in %v", time.Since(start).Round(time.Millisecond))
}

func TestGarbageReplies(t *testing.T) {
	for _, mode := range []string{"short-dh", "zero-dh", "zero"} {
		t.Run(mode, func(t *testing.T) {
			kv := startFileVault(t, fastConfig(t, pluginBin(t, "badvault"), "-mode", mode))
			_, err := kv.DH(randomPeer(t))
			if !errors.Is(err, core.ErrKeyStore) || !errors.Is(err, sdk.ErrBadReply) {
				t.Fatalf("DH: %v, want ErrKeyStore and ErrBadReply", err)
			}
			t.Logf("%s: %v", mode, err)
		})
	}
	t.Run("short-pub", func(t *testing.T) {
		_, err := plugins.StartKeyVault(fastConfig(t, pluginBin(t, "badvault"), "-mode", "short-pub"))
		if !errors.Is(err, sdk.ErrBadReply) || !strings.Contains(err.Error(), "31 bytes") {
			t.Fatalf("start: %v, want ErrBadReply about 31 bytes", err)
		}
	})
	t.Run("generate-long", func(t *testing.T) {
		_, err := plugins.GenerateKey(fastConfig(t, pluginBin(t, "badvault"), "-mode", "short-dh"), false)
		if !errors.Is(err, sdk.ErrBadReply) {
			t.Fatalf("GenerateKey: %v, want ErrBadReply", err)
		}
	})
}

func TestHandshakeMismatchRefusedAtStart(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"wrong-version", "incompatible API version"},
		{"wrong-cookie", "magic cookie mismatch"},
		{"exit", "giving up before the handshake"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			start := time.Now()
			_, err := plugins.StartKeyVault(fastConfig(t, pluginBin(t, "badvault"), "-mode", tc.mode))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start: %v, want an error mentioning %q", err, tc.want)
			}
			t.Logf("%s (%v): %v", tc.mode, time.Since(start).Round(time.Millisecond), err)
		})
	}
	t.Run("no-such-binary", func(t *testing.T) {
		_, err := plugins.StartKeyVault(fastConfig(t, "/nonexistent/keyvault"))
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/keyvault") {
			t.Fatalf("start: %v", err)
		}
	})
}

func TestChangedPublicKeyIsRefused(t *testing.T) {
	// The memory example draws a new key at every start, so a restart
	// brings back a vault with another identity.
	cfg := fastConfig(t, pluginBin(t, "keyvault-memory"))
	log, logs := newLogger(t)
	cfg.Logger = log
	kv := startFileVault(t, cfg)
	pub := kv.PublicKey()
	if _, err := kv.DH(randomPeer(t)); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(kv.Plugin().Pid(), syscall.SIGKILL)
	eventually(t, 10*time.Second, "refusal of the new key", func() bool {
		return strings.Contains(logs.String(), "different public key")
	})
	_, err := kv.DH(randomPeer(t))
	if !errors.Is(err, core.ErrKeyStore) {
		t.Fatalf("DH with a changed vault key: %v", err)
	}
	if kv.PublicKey() != pub {
		t.Fatal("the store's public key changed")
	}
}

func TestPluginLogsReachDaemonLog(t *testing.T) {
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600))
	log, logs := newLogger(t)
	cfg.Logger, cfg.Name = log, "filevault"
	startFileVault(t, cfg)
	// go-plugin's server side logs its listening address through the
	// plugin's stderr; the host re-logs it with the plugin's tags.
	eventually(t, 5*time.Second, "a relayed plugin log line", func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "plugin address") && strings.Contains(l, "plugin=filevault") {
				return true
			}
		}
		return false
	})
}

// TestPrivateKeyNeverCrossesTheAPI checks it twice: by construction (no
// message of the keyvault service has room for anything but public keys,
// shared secrets, records to sign and signatures) and by observation (every reply the daemon side
// receives in a session is recorded and searched for the key bytes).
func TestPrivateKeyNeverCrossesTheAPI(t *testing.T) {
	fd := keyvaultv1.File_keyvault_v1_keyvault_proto
	// SignRecord adds a record to sign and a signature: neither holds key
	// material.
	allowed := map[string]bool{"public_key": true, "peer_public_key": true, "shared_secret": true, "overwrite": true,
		"message": true, "signature": true}
	msgs := fd.Messages()
	for i := range msgs.Len() {
		fields := msgs.Get(i).Fields()
		for j := range fields.Len() {
			f := fields.Get(j)
			if !allowed[string(f.Name())] {
				t.Errorf("%s.%s: unexpected field; a key vault must never return private key material", msgs.Get(i).Name(), f.Name())
			}
			if f.Kind() == protoreflect.MessageKind {
				t.Errorf("%s.%s: nested message", msgs.Get(i).Name(), f.Name())
			}
		}
	}

	key := newTestKey(t)
	var replies [][]byte
	record := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if m, ok := reply.(proto.Message); ok && err == nil {
			b, _ := proto.Marshal(m)
			replies = append(replies, b)
		}
		return err
	}
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, key, 0o600))
	cfg.GRPCDialOptions = []grpc.DialOption{grpc.WithUnaryInterceptor(record)}
	cfg.HealthInterval = time.Hour
	kv := startFileVault(t, cfg)
	for range 20 {
		if _, err := kv.DH(randomPeer(t)); err != nil {
			t.Fatal(err)
		}
	}
	kv.Close()
	if len(replies) < 21 {
		t.Fatalf("recorded %d replies, want at least 21", len(replies))
	}
	for _, r := range replies {
		if strings.Contains(string(r), string(key.priv)) || strings.Contains(string(r), string(key.priv[1:31])) {
			t.Fatal("a reply carries the private key")
		}
	}
}

func TestSplitCommandLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"keyvault-file -key /k", []string{"keyvault-file", "-key", "/k"}},
		{`  "/opt/my vault/kv"   -key '/a b'  `, []string{"/opt/my vault/kv", "-key", "/a b"}},
		{`kv a\ b "q\"x" ''`, []string{"kv", "a b", `q"x`, ""}},
	} {
		got, err := plugins.SplitCommandLine(tc.in)
		if err != nil || strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "   ", `kv "x`, "kv 'x", `kv \`} {
		if _, err := plugins.SplitCommandLine(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// metricValue gathers c and returns the value of the series name whose
// plugin label is plugin.
func metricValue(t testing.TB, c prometheus.Collector, name, plugin string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "plugin" && l.GetValue() == plugin {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{plugin=%q}", name, plugin)
	return 0
}

// histogramCount returns how many observations the histogram name holds
// for method.
func histogramCount(t testing.TB, c prometheus.Collector, name, method string) uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" && l.GetValue() == method {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}
