// SPDX-License-Identifier: MIT

package main

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins"
)

func TestDaemonPartsOrder(t *testing.T) {
	var names []string
	for _, p := range newDaemon(nil).parts {
		names = append(names, p.Name())
	}
	want := []string{"cpu-profile", "netns", "keyvault", "interface", "discovery", "metrics"}
	if !slices.Equal(names, want) {
		t.Fatalf("daemon parts %v, want %v", names, want)
	}
}

// recorder is a fake part that records its start and stop in a shared
// log, and fails to start when told to.
type recorder struct {
	name string
	fail bool
	log  *[]string
}

func (r *recorder) Name() string         { return r.name }
func (r *recorder) Flags(*daemonFlagSet) {}
func (r *recorder) Start(*daemonEnv) (func(), error) {
	if r.fail {
		*r.log = append(*r.log, "fail "+r.name)
		return nil, errors.New("refused")
	}
	*r.log = append(*r.log, "start "+r.name)
	return func() { *r.log = append(*r.log, "stop "+r.name) }, nil
}

func TestStartPartsStopsInReverse(t *testing.T) {
	var log []string
	parts := []part{&recorder{name: "a", log: &log}, &recorder{name: "b", log: &log}, &recorder{name: "c", log: &log}}
	stop, err := startParts(parts, &daemonEnv{})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // a second call stops nothing twice
	want := []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Fatalf("got %v, want %v", log, want)
	}
}

func TestStartPartsFailureStopsWhatStarted(t *testing.T) {
	var log []string
	parts := []part{&recorder{name: "a", log: &log}, &recorder{name: "b", log: &log},
		&recorder{name: "c", fail: true, log: &log}, &recorder{name: "d", log: &log}}
	stop, err := startParts(parts, &daemonEnv{})
	if err == nil || stop != nil {
		t.Fatal("a failing part did not fail the start")
	}
	if !strings.HasPrefix(err.Error(), "c: ") {
		t.Errorf("error %q does not name the part", err)
	}
	want := []string{"start a", "start b", "fail c", "stop b", "stop a"}
	if !slices.Equal(log, want) {
		t.Fatalf("got %v, want %v", log, want)
	}
}

// fakeVault is a key vault plugin held in memory: a key store that does
// not reveal its private key, as a real vault does not.
type fakeVault struct {
	ks     *core.MemoryKeyStore
	events *eventLog
}

func (v *fakeVault) PublicKey() core.PublicKey                { return v.ks.PublicKey() }
func (v *fakeVault) DH(peer core.PublicKey) ([32]byte, error) { return v.ks.DH(peer) }
func (v *fakeVault) Plugin() *plugins.Plugin                  { return nil }
func (v *fakeVault) Close() error                             { v.events.add("vault closed"); return nil }

// fakeDiscovery is a discovery plugin that publishes this node's record
// once, when it starts, as the real one does on its first pass: the
// tunnel's public key and the announcement.
type fakeDiscovery struct{ events *eventLog }

func (d *fakeDiscovery) Plugin() *plugins.Plugin { return nil }
func (d *fakeDiscovery) Close() error            { d.events.add("discovery closed"); return nil }

type eventLog struct {
	mu        sync.Mutex
	events    []string
	published []core.PublicKey
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// fakeDaemon is the daemon's real parts, in their real order, on an
// in-memory device and network, with the key vault and discovery
// plugins faked and the UAPI socket in a temporary directory.
type fakeDaemon struct {
	d      *daemon
	env    *daemonEnv
	events *eventLog
	vault  *fakeVault
	tun    *core.Tunnel // the tunnel the interface part made
	dir    string
}

func newFakeDaemon(t *testing.T, options map[string]string) *fakeDaemon {
	t.Helper()
	var priv core.PrivateKey
	rand.Read(priv[:])
	f := &fakeDaemon{d: newDaemon(nil), events: &eventLog{}, dir: t.TempDir()}
	f.vault = &fakeVault{ks: core.NewMemoryKeyStore(priv), events: f.events}
	for name, v := range options {
		mustSet(t, f.d.flags, name, v)
	}
	nw := coretest.NewMemNetwork()
	p := platform{
		CreateDevice: func(name string, mtu int) (core.Device, error) {
			f.events.add("device created")
			return coretest.NewMemDevice(name, mtu), nil
		},
		NewBind:   func() core.Bind { return nw.NewBind(netip.MustParseAddr("192.0.2.1")) },
		SocketDir: f.dir,
		StartKeyVault: func(plugins.Config) (keyVault, error) {
			f.events.add("vault started")
			return f.vault, nil
		},
		StartDiscovery: func(_ plugins.Config, o plugins.DiscoveryOptions) (runningPlugin, error) {
			if o.Tunnel == nil {
				return nil, errors.New("no tunnel")
			}
			f.events.add("discovery started")
			f.events.mu.Lock()
			f.events.published = append(f.events.published, o.Tunnel.Snapshot().PublicKey)
			f.events.mu.Unlock()
			return &fakeDiscovery{events: f.events}, nil
		},
	}
	f.env = newDaemonEnv("wgt", slog.New(slog.DiscardHandler), f.d.host, p)
	return f
}

// start starts the parts and, when they start, returns the stop function
// (also registered to run at the end of the test).
func (f *fakeDaemon) start(t *testing.T) (func(), error) {
	t.Helper()
	stop, err := startParts(f.d.parts, f.env)
	if err != nil {
		return nil, err
	}
	f.tun = f.env.Tunnel
	var once sync.Once
	stopOnce := func() { once.Do(stop) }
	t.Cleanup(stopOnce)
	return stopOnce, nil
}

func (f *fakeDaemon) socket() string { return filepath.Join(f.dir, "wgt.sock") }

// TestVaultInChargeBeforeDiscoveryPublishes proves, with the daemon's
// parts in the order parts.go lists them, that the key vault's key is the
// tunnel's identity by the time discovery publishes its first record.
// Discovery ahead of the interface fails to start (no tunnel), and
// discovery ahead of the key vault publishes a record without the key.
func TestVaultInChargeBeforeDiscoveryPublishes(t *testing.T) {
	f := newFakeDaemon(t, map[string]string{
		"keyvault":  "keyvault-fake",
		"discovery": "discovery-fake",
	})
	if _, err := f.start(t); err != nil {
		t.Fatal(err)
	}
	want := f.vault.PublicKey()
	if f.events.published == nil {
		t.Fatal("discovery published nothing")
	}
	if got := f.events.published[0]; got != want {
		t.Fatalf("discovery's first record carries key %v, want the vault's %v", got, want)
	}
	if got := f.tun.Snapshot(); got.PublicKey != want || got.PrivateKey != nil {
		t.Fatalf("tunnel identity %v (private key revealed: %v), want the vault's %v", got.PublicKey, got.PrivateKey != nil, want)
	}
	ev := f.events.list()
	if i, j := slices.Index(ev, "vault started"), slices.Index(ev, "discovery started"); i < 0 || j < 0 || i > j {
		t.Fatalf("events %v: vault must start before discovery", ev)
	}
}

// TestDaemonPartsAgainstFakeTunnel starts every part and stops them:
// the UAPI socket exists while they run and the vault is the identity;
// they stop in reverse order, and nothing is left behind.
func TestDaemonPartsAgainstFakeTunnel(t *testing.T) {
	f := newFakeDaemon(t, map[string]string{
		"keyvault":       "keyvault-fake",
		"discovery":      "discovery-fake",
		"metrics-listen": "127.0.0.1:0",
	})
	stop, err := f.start(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.socket()); err != nil {
		t.Fatalf("UAPI socket: %v", err)
	}
	if _, err := os.Stat(discoveredFile(f.dir, "wgt")); err != nil {
		t.Fatalf("discovered peers list: %v", err)
	}
	mfs, err := f.env.Registry.Gather()
	if err != nil || len(mfs) == 0 {
		t.Fatalf("metrics registry: %d families, %v", len(mfs), err)
	}
	stop()
	select {
	case <-f.tun.Closed():
	default:
		t.Error("tunnel still open after stop")
	}
	if _, err := os.Stat(f.socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UAPI socket left behind: %v", err)
	}
	if _, err := os.Stat(discoveredFile(f.dir, "wgt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("discovered peers list left behind: %v", err)
	}
	want := []string{"vault started", "device created", "discovery started", "discovery closed", "vault closed"}
	if ev := f.events.list(); !slices.Equal(ev, want) {
		t.Fatalf("events %v, want %v", ev, want)
	}
}

// TestFailingPartLeavesNothingStarted: metrics, the last part, refuses
// its options; everything before it is stopped again.
func TestFailingPartLeavesNothingStarted(t *testing.T) {
	f := newFakeDaemon(t, map[string]string{
		"keyvault":       "keyvault-fake",
		"discovery":      "discovery-fake",
		"metrics-compat": "no-such-exporter",
	})
	_, err := f.start(t)
	if err == nil || !strings.HasPrefix(err.Error(), "metrics: ") {
		t.Fatalf("start: %v, want a metrics error", err)
	}
	if _, err := os.Stat(f.socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UAPI socket left behind: %v", err)
	}
	if _, err := os.Stat(discoveredFile(f.dir, "wgt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("discovered peers list left behind: %v", err)
	}
	if f.env.Tunnel == nil {
		t.Fatal("the interface never started")
	}
	select {
	case <-f.env.Tunnel.Closed():
	default:
		t.Error("tunnel left open")
	}
	want := []string{"vault started", "device created", "discovery started", "discovery closed", "vault closed"}
	if ev := f.events.list(); !slices.Equal(ev, want) {
		t.Fatalf("events %v, want %v", ev, want)
	}
}

// TestInterfaceFailureStopsVault: a device that cannot be created stops
// the vault that started before it, and opens no socket.
func TestInterfaceFailureStopsVault(t *testing.T) {
	f := newFakeDaemon(t, map[string]string{"keyvault": "keyvault-fake", "discovery": "discovery-fake"})
	f.env.Platform.CreateDevice = func(string, int) (core.Device, error) { return nil, errors.New("no tun here") }
	_, err := f.start(t)
	if err == nil || !strings.Contains(err.Error(), "no tun here") {
		t.Fatalf("start: %v", err)
	}
	if _, err := os.Stat(f.socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UAPI socket: %v", err)
	}
	want := []string{"vault started", "vault closed"}
	if ev := f.events.list(); !slices.Equal(ev, want) {
		t.Fatalf("events %v, want %v", ev, want)
	}
}
