// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// newTestTunnel is a real core.Tunnel on the in-memory ports, with a key.
func newTestTunnel(t testing.TB) *core.Tunnel {
	t.Helper()
	tun := newTunnel(t)
	t.Cleanup(func() { tun.Close() })
	return tun
}

// newTunnel is newTestTunnel that the caller closes.
func newTunnel(t testing.TB) *core.Tunnel {
	t.Helper()
	nw := coretest.NewMemNetwork()
	tun, err := core.NewTunnel(core.Options{
		Device: coretest.NewMemDevice("wgt", 1420),
		Bind:   nw.NewBind(netip.MustParseAddr("192.0.2.1")),
	})
	if err != nil {
		t.Fatal(err)
	}
	priv := randomKey(t)
	if err := tun.Apply(core.Config{PrivateKey: (*core.PrivateKey)(&priv)}); err != nil {
		t.Fatal(err)
	}
	// The in-memory device announces itself up, and the tunnel's event
	// goroutine then opens the port, which moves the configuration
	// generation. Bring it up here instead, so that this happens before
	// the test starts and not in its middle, where it would make the
	// book reconcile in full when the test expects an incremental step.
	if err := tun.Up(); err != nil {
		t.Fatal(err)
	}
	return tun
}

func randomKey(t testing.TB) [32]byte {
	t.Helper()
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		t.Fatal(err)
	}
	return k
}

// key returns a public key whose first byte orders it among the others.
func key(first byte) sdk.Key {
	var k sdk.Key
	k[0], k[31] = first, 0x42
	return k
}

func rec(k sdk.Key, endpoint string, prefixes ...string) sdk.Record {
	r := sdk.Record{PublicKey: k, Name: "n"}
	if endpoint != "" {
		r.Endpoints = []string{endpoint}
	}
	for _, p := range prefixes {
		r.AllowedIPs = append(r.AllowedIPs, netip.MustParsePrefix(p))
	}
	return r
}

// peers maps each peer of the tunnel to its allowed IPs and endpoint.
func peers(tun *core.Tunnel) map[core.PublicKey]string {
	out := map[core.PublicKey]string{}
	for _, p := range tun.Snapshot().Peers {
		s := ""
		for _, a := range p.AllowedIPs {
			s += a.String() + " "
		}
		if p.Endpoint.IsValid() {
			s += p.Endpoint.String()
		}
		out[p.PublicKey] = s
	}
	return out
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func addManual(t *testing.T, tun *core.Tunnel, k sdk.Key, prefix string) {
	t.Helper()
	err := tun.Apply(core.Config{Peers: []core.PeerConfig{{
		PublicKey:  core.PublicKey(k),
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix(prefix)}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBookResyncRemovesOnlyWhatLeft(t *testing.T) {
	tun := newTestTunnel(t)
	manual := key(0x10)
	addManual(t, tun, manual, "10.9.0.0/24")
	b := newPeerBook(testLog(t), tun, nil, "", nil)

	a, c, d := key(1), key(2), key(3)
	b.snapshot([]sdk.Record{
		rec(a, "198.51.100.1:51820", "10.0.0.1/32"),
		rec(c, "198.51.100.2:51820", "10.0.0.2/32"),
		rec(d, "198.51.100.3:51820", "10.0.0.3/32"),
	})
	got := peers(tun)
	if len(got) != 4 || got[core.PublicKey(a)] != "10.0.0.1/32 198.51.100.1:51820" {
		t.Fatalf("after the first snapshot: %v", got)
	}
	// An update changes allowed IPs and keepalive; a removal removes.
	up := rec(a, "198.51.100.1:51820", "10.0.0.1/32", "10.1.0.0/16")
	up.PersistentKeepalive = 25
	b.upsert(up)
	b.remove(d)
	got = peers(tun)
	if _, ok := got[core.PublicKey(d)]; ok || got[core.PublicKey(a)] != "10.0.0.1/32 10.1.0.0/16 198.51.100.1:51820" {
		t.Fatalf("after update and removal: %v", got)
	}
	// A resync after a reconnect: c left the registry meanwhile, e came.
	e := key(4)
	b.snapshot([]sdk.Record{up, rec(e, "198.51.100.5:51820", "10.0.0.5/32")})
	got = peers(tun)
	want := []core.PublicKey{core.PublicKey(a), core.PublicKey(e), core.PublicKey(manual)}
	if len(got) != 3 {
		t.Fatalf("after the resync: %v", got)
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Fatalf("after the resync, %s missing: %v", k, got)
		}
	}
	if got[core.PublicKey(manual)] != "10.9.0.0/24 " {
		t.Fatalf("hand-configured peer changed: %q", got[core.PublicKey(manual)])
	}
	// An empty registry removes every discovered peer and only those.
	b.snapshot(nil)
	if got = peers(tun); len(got) != 1 || got[core.PublicKey(manual)] == "" {
		t.Fatalf("after an empty snapshot: %v", got)
	}
}

func TestBookLeavesHandConfiguredPeersAlone(t *testing.T) {
	tun := newTestTunnel(t)
	manual := key(0x10)
	addManual(t, tun, manual, "10.9.0.0/24")
	b := newPeerBook(testLog(t), tun, nil, "", nil)
	// A record with the hand-configured peer's key, one overlapping its
	// prefix, and a harmless one.
	b.snapshot([]sdk.Record{
		rec(manual, "198.51.100.9:51820", "10.0.0.9/32"),
		rec(key(1), "198.51.100.1:51820", "10.9.0.7/32"),
		rec(key(2), "198.51.100.2:51820", "10.0.0.2/32"),
	})
	got := peers(tun)
	if got[core.PublicKey(manual)] != "10.9.0.0/24 " {
		t.Errorf("hand-configured peer changed: %q", got[core.PublicKey(manual)])
	}
	if _, ok := got[core.PublicKey(key(1))]; ok {
		t.Errorf("a record overlapping a hand-configured peer was applied: %v", got)
	}
	if _, ok := got[core.PublicKey(key(2))]; !ok {
		t.Errorf("the harmless record was not applied: %v", got)
	}
	if !slices.Equal(b.ownedKeys(), []core.PublicKey{core.PublicKey(key(2))}) {
		t.Errorf("owned = %v", b.ownedKeys())
	}
	b.snapshot(nil)
	if got := peers(tun); len(got) != 1 || got[core.PublicKey(manual)] != "10.9.0.0/24 " {
		t.Errorf("an empty registry touched the hand-configured peer: %v", got)
	}
}

func TestBookRefusesConflicts(t *testing.T) {
	tun := newTestTunnel(t)
	own := tun.Snapshot().PublicKey
	b := newPeerBook(testLog(t), tun, []netip.Prefix{netip.MustParsePrefix("10.0.0.100/32")}, "", nil)
	older, newer, thief := key(5), key(1), key(2)
	b.snapshot([]sdk.Record{rec(older, "198.51.100.5:51820", "10.0.0.5/32")})
	// newer sorts before older by key, but older was there first.
	b.upsert(rec(newer, "198.51.100.1:51820", "10.0.0.0/29"))
	// thief claims this node's own address.
	b.upsert(rec(thief, "198.51.100.2:51820", "10.0.0.100/32"))
	// Our own record, reflected by the registry, is skipped silently.
	b.upsert(rec(sdk.Key(own), "198.51.100.100:51820", "10.0.0.100/32"))
	got := peers(tun)
	if len(got) != 1 || got[core.PublicKey(older)] == "" {
		t.Fatalf("conflicting records were applied: %v", got)
	}
	if len(b.refused) != 2 {
		t.Errorf("refused = %v", b.refused)
	}
	// Once the holder left and its hold ran out, the refused record gets
	// its turn.
	defer func(d time.Duration) { holdTime = d }(holdTime)
	holdTime = 0
	b.remove(older)
	if _, ok := peers(tun)[core.PublicKey(newer)]; ok {
		t.Fatal("the holder's address was taken in the same reconciliation that removed it")
	}
	if !b.expiryDue(time.Now().Add(time.Millisecond)) {
		t.Fatal("the end of the hold does not ask for a reconciliation")
	}
	b.refresh()
	got = peers(tun)
	if len(got) != 1 || got[core.PublicKey(newer)] != "10.0.0.0/29 198.51.100.1:51820" {
		t.Fatalf("after the holder left: %v", got)
	}
	// Two newcomers in one snapshot: key order decides, reproducibly.
	b.snapshot([]sdk.Record{rec(key(9), "", "10.7.0.0/16"), rec(key(8), "", "10.7.1.0/24")})
	got = peers(tun)
	if len(got) != 1 || got[core.PublicKey(key(8))] != "10.7.1.0/24 " {
		t.Fatalf("after the second snapshot: %v", got)
	}
}

func TestBookPSKReference(t *testing.T) {
	tun := newTestTunnel(t)
	dir := t.TempDir()
	psk := randomKey(t)
	if err := os.WriteFile(filepath.Join(dir, "fleet"), []byte(config.FormatKey(psk)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := newPeerBook(testLog(t), tun, nil, dir, nil)
	withRef := rec(key(1), "198.51.100.1:51820", "10.0.0.1/32")
	withRef.PSKRef = "fleet"
	missing := rec(key(2), "198.51.100.2:51820", "10.0.0.2/32")
	missing.PSKRef = "nope"
	b.snapshot([]sdk.Record{withRef, missing})
	snap := tun.Snapshot()
	if len(snap.Peers) != 1 || snap.Peers[0].PresharedKey != core.PresharedKey(psk) {
		t.Fatalf("peers %+v", snap.Peers)
	}
	// Dropping the reference drops the key.
	withRef.PSKRef = ""
	b.upsert(withRef)
	if snap := tun.Snapshot(); !snap.Peers[0].PresharedKey.IsZero() {
		t.Fatal("PSK kept after the record dropped its reference")
	}
	// Without a PSK directory a reference is refused.
	b2 := newPeerBook(testLog(t), newTestTunnel(t), nil, "", nil)
	withRef.PSKRef = "fleet"
	b2.snapshot([]sdk.Record{withRef})
	if len(b2.owned) != 0 {
		t.Fatal("a PSK reference was accepted without a PSK directory")
	}
}

func TestBookKeepsRoamedEndpoint(t *testing.T) {
	tun := newTestTunnel(t)
	b := newPeerBook(testLog(t), tun, nil, "", nil)
	r := rec(key(1), "198.51.100.1:51820", "10.0.0.1/32")
	b.snapshot([]sdk.Record{r})
	// The peer roams (here: set by hand, as roaming would).
	roamed := netip.MustParseAddrPort("203.0.113.7:4000")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: core.PublicKey(r.PublicKey), UpdateOnly: true, Endpoint: &roamed}}}); err != nil {
		t.Fatal(err)
	}
	// The same record again, and a change elsewhere in it, keep the
	// endpoint the peer roamed to; a new announced endpoint replaces it.
	b.snapshot([]sdk.Record{r})
	r.Name = "renamed"
	r.PersistentKeepalive = 5
	b.upsert(r)
	if got := tun.Snapshot().Peers[0].Endpoint; got != roamed {
		t.Fatalf("endpoint reset to %v", got)
	}
	r.Endpoints = []string{"198.51.100.9:51820"}
	b.upsert(r)
	if got := tun.Snapshot().Peers[0].Endpoint; got.String() != "198.51.100.9:51820" {
		t.Fatalf("endpoint %v, want the newly announced one", got)
	}
}

// fakeDiscovery is an in-process plugin instance: Watch plays back what
// the test queues, Publish records what it gets. Killing it ends its
// streams with an error, as a dead process does.
type fakeDiscovery struct {
	mu        sync.Mutex
	published []sdk.Record
	snapshot  []sdk.Record
	events    chan func(sdk.DiscoverySink) error
	dead      chan struct{}
}

func newFake(snapshot ...sdk.Record) *fakeDiscovery {
	return &fakeDiscovery{snapshot: snapshot, events: make(chan func(sdk.DiscoverySink) error, 16), dead: make(chan struct{})}
}

func (f *fakeDiscovery) Publish(_ context.Context, self sdk.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, self)
	return nil
}

func (f *fakeDiscovery) Watch(ctx context.Context, sink sdk.DiscoverySink) error {
	select {
	case <-f.dead:
		return errors.New("connection refused")
	default:
	}
	if err := sink.Snapshot(f.snapshot); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.dead:
			return errors.New("connection refused")
		case ev := <-f.events:
			if err := ev(sink); err != nil {
				return err
			}
		}
	}
}

func (f *fakeDiscovery) lastPublished() (sdk.Record, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.published) == 0 {
		return sdk.Record{}, false
	}
	return f.published[len(f.published)-1], true
}

// startFakeDiscovery runs the host side against fake, as StartDiscovery
// does against a process.
func startFakeDiscovery(t *testing.T, tun *core.Tunnel, fake *fakeDiscovery, ann Announcement) *Discovery {
	t.Helper()
	return startFakeDiscoveryWith(t, fake, DiscoveryOptions{Tunnel: tun, Announce: ann, SelfInterval: 10 * time.Millisecond, WatchRetry: 10 * time.Millisecond})
}

// startFakeDiscoveryWith is startFakeDiscovery with the options given.
func startFakeDiscoveryWith(t *testing.T, fake sdk.Discovery, opts DiscoveryOptions) *Discovery {
	t.Helper()
	return startFakeDiscoveryLog(t, testLog(t), fake, opts)
}

// startFakeDiscoveryLog is startFakeDiscoveryWith with the logger given.
func startFakeDiscoveryLog(t *testing.T, log *slog.Logger, fake sdk.Discovery, opts DiscoveryOptions) *Discovery {
	t.Helper()
	d, err := newDiscovery(log, opts)
	if err != nil {
		t.Fatal(err)
	}
	var cur sync.Mutex
	impl := any(fake)
	d.call = func(_ string, fn func(context.Context, any) error) error {
		cur.Lock()
		i := impl
		cur.Unlock()
		return fn(context.Background(), i)
	}
	if err := d.onStart(context.Background(), fake); err != nil {
		t.Fatal(err)
	}
	d.run()
	t.Cleanup(func() { d.Close() })
	return d
}

// restart plays a plugin restart: the new instance becomes current.
func restart(t *testing.T, d *Discovery, fake sdk.Discovery) {
	t.Helper()
	if err := d.onStart(context.Background(), fake); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoveryPluginDeathLeavesPeers(t *testing.T) {
	tun := newTestTunnel(t)
	manual := key(0x10)
	addManual(t, tun, manual, "10.9.0.0/24")
	a, b, c := rec(key(1), "198.51.100.1:51820", "10.0.0.1/32"), rec(key(2), "198.51.100.2:51820", "10.0.0.2/32"), rec(key(3), "198.51.100.3:51820", "10.0.0.3/32")
	first := newFake(a, b)
	d := startFakeDiscovery(t, tun, first, Announcement{Endpoints: []string{"192.0.2.1"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.100/32")}})
	coretest.WaitFor(t, "the first snapshot applied", func() bool { return len(peers(tun)) == 3 })
	first.events <- func(s sdk.DiscoverySink) error { return s.Upsert(c) }
	coretest.WaitFor(t, "the upsert applied", func() bool { return len(peers(tun)) == 4 })

	// The plugin dies: nothing changes, however long it stays away.
	close(first.dead)
	before := peers(tun)
	time.Sleep(50 * time.Millisecond) // several retry rounds of the watch loop
	if got := peers(tun); len(got) != len(before) {
		t.Fatalf("peers changed while the plugin was down: %v", got)
	}

	// It comes back; b left the registry meanwhile.
	second := newFake(a, c)
	restart(t, d, second)
	coretest.WaitFor(t, "the resync", func() bool { _, ok := peers(tun)[core.PublicKey(b.PublicKey)]; return !ok })
	got := peers(tun)
	if len(got) != 3 || got[core.PublicKey(manual)] != "10.9.0.0/24 " {
		t.Fatalf("after the resync: %v", got)
	}
	if !slices.Equal(d.Managed(), []core.PublicKey{core.PublicKey(a.PublicKey), core.PublicKey(c.PublicKey)}) {
		t.Fatalf("managed %v", d.Managed())
	}
	// The restarted instance was told who we are, with the listen port
	// completing the bare endpoint.
	self, ok := second.lastPublished()
	snap := tun.Snapshot()
	if !ok || core.PublicKey(self.PublicKey) != snap.PublicKey || len(self.Endpoints) != 1 ||
		self.Endpoints[0] != netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), snap.ListenPort).String() {
		t.Fatalf("published %+v (port %d)", self, snap.ListenPort)
	}
}

func TestDiscoveryRepublishesOnKeyChange(t *testing.T) {
	tun := newTestTunnel(t)
	fake := newFake()
	startFakeDiscovery(t, tun, fake, Announcement{Endpoints: []string{"192.0.2.1:51820"}})
	coretest.WaitFor(t, "a publish", func() bool { _, ok := fake.lastPublished(); return ok })
	priv := randomKey(t)
	if err := tun.Apply(core.Config{PrivateKey: (*core.PrivateKey)(&priv)}); err != nil {
		t.Fatal(err)
	}
	coretest.WaitFor(t, "the new key published", func() bool {
		r, _ := fake.lastPublished()
		return core.PublicKey(r.PublicKey) == tun.Snapshot().PublicKey
	})
}

func TestDiscoveryIgnoresUpdatesBeforeSnapshot(t *testing.T) {
	tun := newTestTunnel(t)
	d, err := newDiscovery(testLog(t), DiscoveryOptions{Tunnel: tun})
	if err != nil {
		t.Fatal(err)
	}
	s := &bookSink{d: d}
	s.Upsert(rec(key(1), "", "10.0.0.1/32"))
	if len(peers(tun)) != 0 {
		t.Fatal("an upsert before the snapshot was applied")
	}
	s.Snapshot(nil)
	s.Upsert(rec(key(1), "", "10.0.0.1/32"))
	if len(peers(tun)) != 1 {
		t.Fatal("an upsert after the snapshot was not applied")
	}
	d.cancel()
}

func TestDiscoveryRestoresPeersRemovedByHand(t *testing.T) {
	tun := newTestTunnel(t)
	a := rec(key(1), "198.51.100.1:51820", "10.0.0.1/32")
	startFakeDiscovery(t, tun, newFake(a), Announcement{})
	coretest.WaitFor(t, "the peer", func() bool { return len(peers(tun)) == 1 })
	// wg setconf with a file that lacks it.
	if err := tun.Apply(core.Config{ReplacePeers: true}); err != nil {
		t.Fatal(err)
	}
	coretest.WaitFor(t, "the peer back", func() bool { return len(peers(tun)) == 1 })
}
