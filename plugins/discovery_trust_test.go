// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"crypto/ed25519"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// testFleet is a CA and a way to make signed records for test nodes.
type testFleet struct {
	t     *testing.T
	caKey ed25519.PrivateKey
	roots *fleet.Roots
}

func newTestFleet(t *testing.T) *testFleet {
	k, err := fleet.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := fleet.NewRoots(&fleet.CA{Name: "test", Key: k.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	return &testFleet{t: t, caKey: k, roots: roots}
}

// node is a certified node: its certificate and signing key.
type node struct {
	cert *fleet.Certificate
	key  ed25519.PrivateKey
}

func (f *testFleet) node(k sdk.Key, serial uint64, prefixes ...string) *node {
	f.t.Helper()
	sk, _ := fleet.GenerateKey()
	c := &fleet.Certificate{
		Serial: serial, PublicKey: k, SigningKey: sk.Public().(ed25519.PublicKey), Name: "node",
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	for _, p := range prefixes {
		c.Prefixes = append(c.Prefixes, netip.MustParsePrefix(p))
	}
	raw, err := c.Sign(f.caKey)
	if err != nil {
		f.t.Fatal(err)
	}
	if c, err = fleet.ParseCertificate(raw); err != nil {
		f.t.Fatal(err)
	}
	return &node{cert: c, key: sk}
}

// record is a registry record for n: the signed part claims prefixes and
// an endpoint; the unsigned fields claim something else, which a daemon
// with a CA must ignore.
func (n *node) record(t *testing.T, seq uint64, endpoint string, prefixes ...string) sdk.Record {
	t.Helper()
	fr := &fleet.Record{Cert: n.cert, PublicKey: n.cert.PublicKey, Sequence: seq, Timestamp: time.Now(),
		Endpoints: []netip.AddrPort{netip.MustParseAddrPort(endpoint)}}
	for _, p := range prefixes {
		fr.Prefixes = append(fr.Prefixes, netip.MustParsePrefix(p))
	}
	raw, err := fr.Sign(n.key)
	if err != nil {
		t.Fatal(err)
	}
	r := rec(sdk.Key(n.cert.PublicKey), "203.0.113.9:1", "0.0.0.0/0")
	r.Signed = raw
	return r
}

func counter(t *testing.T, m *DiscoveryMetrics, reason string) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.rejected.WithLabelValues(reason).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

func restoredCount(t *testing.T, m *DiscoveryMetrics) float64 {
	var out dto.Metric
	if err := m.restored.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetCounter().GetValue()
}

func trustedDiscovery(t *testing.T, tun *core.Tunnel, trust TrustPolicy) (*Discovery, *bookSink, *DiscoveryMetrics) {
	m := NewDiscoveryMetrics()
	d, err := newDiscovery(testLog(t), DiscoveryOptions{Tunnel: tun, Trust: trust, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.cancel)
	s := &bookSink{d: d}
	return d, s, m
}

func TestTrustWithCA(t *testing.T) {
	tun := newTestTunnel(t)
	f := newTestFleet(t)
	_, s, m := trustedDiscovery(t, tun, TrustPolicy{Roots: f.roots})
	a := f.node(key(1), 1, "10.70.1.0/24")
	good := a.record(t, 10, "198.51.100.1:51820", "10.70.1.1/32")
	unsigned := rec(key(2), "198.51.100.2:51820", "10.70.2.1/32")
	s.Snapshot([]sdk.Record{good, unsigned})
	got := peers(tun)
	if len(got) != 1 || got[core.PublicKey(key(1))] != "10.70.1.1/32 198.51.100.1:51820" {
		t.Fatalf("peers %v: want only the signed record, as signed", got)
	}
	if counter(t, m, "unsigned") != 1 {
		t.Fatal("unsigned refusal not counted once")
	}

	other := newTestFleet(t).node(key(3), 1, "10.70.3.0/24")
	outside := a.record(t, 11, "198.51.100.1:51820", "10.70.9.1/32")
	older := a.record(t, 9, "198.51.100.66:51820", "10.70.1.1/32")
	b := f.node(key(4), 4, "10.70.4.0/24")
	// b's certificate and key, filed under key 5: a certificate of another key.
	stolen := b.record(t, 1, "198.51.100.4:51820", "10.70.4.1/32")
	stolen.PublicKey = key(5)
	for _, tc := range []struct {
		r      sdk.Record
		reason string
	}{
		{other.record(t, 1, "198.51.100.3:51820", "10.70.3.1/32"), "unknown_ca"},
		{outside, "prefix_outside_cert"},
		{older, "stale_sequence"},
		{stolen, "key_mismatch"},
	} {
		before := counter(t, m, tc.reason)
		s.Upsert(tc.r)
		s.Upsert(tc.r) // the same record again is not counted again
		if c := counter(t, m, tc.reason); c != before+1 {
			t.Fatalf("%s counted %v times", tc.reason, c-before)
		}
	}
	// The refused updates of a's record left its peer as it was.
	got = peers(tun)
	if got[core.PublicKey(key(1))] != "10.70.1.1/32 198.51.100.1:51820" || len(got) != 1 {
		t.Fatalf("peers after the refusals: %v", got)
	}
	// A newer record of a is taken.
	s.Upsert(a.record(t, 12, "198.51.100.11:51820", "10.70.1.2/32"))
	if got := peers(tun)[core.PublicKey(key(1))]; got != "10.70.1.2/32 198.51.100.11:51820" {
		t.Fatalf("newer record not applied: %q", got)
	}
	// Removed and put back unchanged (a lapsed lease): not a replay.
	last := a.record(t, 13, "198.51.100.11:51820", "10.70.1.2/32")
	s.Upsert(last)
	s.Remove(key(1))
	if len(peers(tun)) != 0 {
		t.Fatal("removal not applied")
	}
	s.Upsert(last)
	if len(peers(tun)) != 1 {
		t.Fatal("the same record put back was refused")
	}
}

func TestTrustRevocationAndExpiry(t *testing.T) {
	tun := newTestTunnel(t)
	f := newTestFleet(t)
	now := time.Now()
	var rv *fleet.Revocations
	d, s, m := trustedDiscovery(t, tun, TrustPolicy{
		Roots: f.roots, Now: func() time.Time { return now },
		Revocations: func() *fleet.Revocations { return rv },
	})
	a := f.node(key(1), 77, "10.70.1.0/24")
	s.Snapshot([]sdk.Record{a.record(t, 1, "198.51.100.1:51820", "10.70.1.1/32")})
	if len(peers(tun)) != 1 {
		t.Fatal("valid record refused")
	}
	l := &fleet.RevocationList{Issued: now, Serials: []uint64{77}}
	raw, _ := l.Sign(f.caKey)
	l, _ = fleet.ParseRevocationList(raw)
	var err error
	if rv, err = fleet.NewRevocations(f.roots, l); err != nil {
		t.Fatal(err)
	}
	if !d.book.expiryDue(now) {
		t.Fatal("a new revocation list does not ask for a reconciliation")
	}
	d.book.refresh()
	if len(peers(tun)) != 0 || counter(t, m, "revoked") != 1 {
		t.Fatalf("revoked certificate still a peer: %v", peers(tun))
	}
	rv = nil
	d.book.expiryDue(now)
	d.book.refresh()
	if len(peers(tun)) != 1 {
		t.Fatal("not a peer again once no longer revoked")
	}
	now = now.Add(2 * time.Hour)
	if !d.book.expiryDue(now) {
		t.Fatal("expiry not noticed")
	}
	d.book.refresh()
	if len(peers(tun)) != 0 || counter(t, m, "expired") != 1 {
		t.Fatal("expired certificate still a peer")
	}
}

func TestTrustWithoutCA(t *testing.T) {
	tun := newTestTunnel(t)
	_, s, m := trustedDiscovery(t, tun, TrustPolicy{})
	s.Snapshot([]sdk.Record{
		rec(key(1), "198.51.100.1:51820", "10.70.1.1/32"),
		rec(key(2), "198.51.100.2:51820", "128.0.0.0/1", "::/0", "192.168.0.0/16"),
		rec(key(3), "198.51.100.3:51820", "0.0.0.0/0"),
	})
	if got := peers(tun); len(got) != 1 || counter(t, m, "too_broad") != 2 {
		t.Fatalf("peers %v", got)
	}
	// A refused rewrite of key 1 leaves it as it was.
	s.Upsert(rec(key(1), "198.51.100.9:51820", "0.0.0.0/0"))
	if got := peers(tun)[core.PublicKey(key(1))]; got != "10.70.1.1/32 198.51.100.1:51820" {
		t.Fatalf("peer after a refused rewrite: %q", got)
	}

	// The takeover: the victim's record rewritten to another address, and
	// another key claiming the address it gave up. The address is held for
	// the victim, who gets it back when its record is restored.
	s.Upsert(rec(key(1), "198.51.100.1:51820", "10.70.1.77/32"))
	s.Upsert(rec(key(9), "198.51.100.9:51820", "10.70.1.1/32"))
	if _, ok := peers(tun)[core.PublicKey(key(9))]; ok || counter(t, m, "overlap") != 1 {
		t.Fatalf("the given-up address went to another key: %v", peers(tun))
	}
	s.Upsert(rec(key(1), "198.51.100.1:51820", "10.70.1.1/32"))
	if got := peers(tun)[core.PublicKey(key(1))]; got != "10.70.1.1/32 198.51.100.1:51820" {
		t.Fatalf("the victim did not get its address back: %q", got)
	}

	tun2 := newTestTunnel(t)
	_, s2, m2 := trustedDiscovery(t, tun2, TrustPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("10.70.0.0/16")}})
	s2.Snapshot([]sdk.Record{
		rec(key(1), "198.51.100.1:51820", "10.70.1.1/32"),
		rec(key(2), "198.51.100.2:51820", "10.71.0.1/32"),
	})
	if got := peers(tun2); len(got) != 1 || counter(t, m2, "outside_allow") != 1 {
		t.Fatalf("peers %v", got)
	}
}

func TestDiscoverySignsAndRestoresItsRecord(t *testing.T) {
	tun := newTestTunnel(t)
	f := newTestFleet(t)
	self := f.node(sdk.Key(tun.Snapshot().PublicKey), 5, "10.70.5.0/24")
	m := NewDiscoveryMetrics()
	fake := newFake()
	d, err := newDiscovery(testLog(t), DiscoveryOptions{
		Tunnel: tun, SelfInterval: 20 * time.Millisecond, WatchRetry: 10 * time.Millisecond,
		Announce: Announcement{Endpoints: []string{"192.0.2.1:51820", "host.example:1"},
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.70.5.1/32")}},
		Trust: TrustPolicy{Roots: f.roots}, Identity: &FleetIdentity{Cert: self.cert, Key: self.key}, Metrics: m,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.call = func(_ string, fn func(context.Context, any) error) error { return fn(context.Background(), fake) }
	if err := d.onStart(context.Background(), fake); err != nil {
		t.Fatal(err)
	}
	d.run()
	t.Cleanup(func() { d.Close() })
	// The first record goes out once the (empty) snapshot is applied.
	coretest.WaitFor(t, "the record published", func() bool { _, ok := fake.lastPublished(); return ok })
	pub, _ := fake.lastPublished()
	rec, v := fleet.Verify(pub.Signed, f.roots, nil, time.Now(), 0)
	if !v.OK() || len(rec.Endpoints) != 1 || rec.Prefixes[0] != netip.MustParsePrefix("10.70.5.1/32") {
		t.Fatalf("published record does not verify as announced: %v", v)
	}
	// Someone else overwrites it: it is published again, counted.
	n := len(fake.published)
	forged := pub.Clone()
	forged.Endpoints = []string{"203.0.113.66:51820"}
	fake.events <- func(s sdk.DiscoverySink) error { return s.Upsert(forged) }
	coretest.WaitFor(t, "the record published again", func() bool {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		return len(fake.published) > n
	})
	if restoredCount(t, m) != 1 {
		t.Fatal("restoration not counted")
	}
	again, _ := fake.lastPublished()
	if !again.Equal(&pub) {
		t.Fatal("the restored record differs from the original (unchanged announcement must keep its bytes)")
	}
	// The unchanged record reported back is not an alteration.
	fake.events <- func(s sdk.DiscoverySink) error { return s.Upsert(again) }
	fake.events <- func(s sdk.DiscoverySink) error { return s.Remove(pub.PublicKey) }
	coretest.WaitFor(t, "a deletion restored", func() bool { return restoredCount(t, m) == 2 })
	if !strings.HasPrefix(string(pub.Signed), fleet.MagicRecord) {
		t.Fatal("not a fleet record")
	}
}

// TestDiscoverySignsThroughAVault: an identity whose key is held elsewhere
// (Sign) publishes records that verify; a signer that returns a wrong
// signature makes the record go out unsigned, not wrongly signed.
func TestDiscoverySignsThroughAVault(t *testing.T) {
	tun := newTestTunnel(t)
	f := newTestFleet(t)
	self := f.node(sdk.Key(tun.Snapshot().PublicKey), 5, "10.70.5.0/24")
	for _, tc := range []struct {
		name string
		sign func([]byte) ([]byte, error)
		ok   bool
	}{
		{"vault", func(m []byte) ([]byte, error) { return ed25519.Sign(self.key, m), nil }, true},
		{"wrong key", func(m []byte) ([]byte, error) { k, _ := fleet.GenerateKey(); return ed25519.Sign(k, m), nil }, false},
	} {
		d, err := newDiscovery(testLog(t), DiscoveryOptions{
			Tunnel:   tun,
			Announce: Announcement{Endpoints: []string{"192.0.2.1:51820"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.70.5.1/32")}},
			Identity: &FleetIdentity{Cert: self.cert, Sign: tc.sign},
		})
		if err != nil {
			t.Fatal(err)
		}
		pub, port := d.identity()
		r, ok := d.selfRecord(d.announcement(), pub, port)
		d.cancel()
		if !ok {
			t.Fatal("no record")
		}
		_, v := fleet.Verify(r.Signed, f.roots, nil, time.Now(), 0)
		if v.OK() != tc.ok || (!tc.ok && len(r.Signed) != 0) {
			t.Fatalf("%s: verdict %v, signed %d bytes", tc.name, v, len(r.Signed))
		}
	}
}
