// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// heldFake is a plugin instance whose streams begin (with fakeDiscovery's
// snapshot) only once release is closed, and which notes how many peers
// the tunnel had at each publish of this node's record.
type heldFake struct {
	*fakeDiscovery
	tun     DiscoveryTunnel
	release chan struct{}

	mu             sync.Mutex
	peersAtPublish []int
}

func newHeldFake(tun DiscoveryTunnel, snapshot ...sdk.Record) *heldFake {
	return &heldFake{fakeDiscovery: newFake(snapshot...), tun: tun, release: make(chan struct{})}
}

func (f *heldFake) Publish(ctx context.Context, self sdk.Record) error {
	n := len(f.tun.Snapshot().Peers)
	f.mu.Lock()
	f.peersAtPublish = append(f.peersAtPublish, n)
	f.mu.Unlock()
	return f.fakeDiscovery.Publish(ctx, self)
}

func (f *heldFake) Watch(ctx context.Context, sink sdk.DiscoverySink) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.release:
	}
	return f.fakeDiscovery.Watch(ctx, sink)
}

// publishes is what the tunnel's peer count was at each publish so far.
func (f *heldFake) publishes() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.peersAtPublish...)
}

// syncBuffer is a log destination the test may read while loops write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var firstPublishAnn = Announcement{Name: "self", Endpoints: []string{"192.0.2.1:51820"},
	AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.100/32")}}

// A node that joins publishes its record only once the peers of the
// registry's first snapshot are in its tunnel: the other nodes initiate
// handshakes as soon as they see the record, and initiations from keys
// the node does not have yet are dropped, leaving the first handshake to
// the initiators' retry 5 s later.
func TestDiscoveryFirstPublishAfterSnapshot(t *testing.T) {
	tun := newMemTunnel(core.PublicKey(key(0x99)))
	recs := []sdk.Record{rec(key(1), "198.51.100.1:51820", "10.0.0.1/32"),
		rec(key(2), "198.51.100.2:51820", "10.0.0.2/32"), rec(key(3), "198.51.100.3:51820", "10.0.0.3/32")}
	fake := newHeldFake(tun, recs...)
	var looks atomic.Int32
	startFakeDiscoveryWith(t, fake, DiscoveryOptions{
		Tunnel: tun, SelfInterval: 10 * time.Millisecond, WatchRetry: 10 * time.Millisecond,
		FirstPublishWait: time.Hour, // only the snapshot may let the record out
		AnnounceFunc: func() Announcement {
			looks.Add(1)
			return firstPublishAnn
		},
	})
	if got := fake.publishes(); len(got) != 0 {
		t.Fatalf("published when the plugin started, before any snapshot (tunnel had %v peers)", got)
	}
	// Each pass of the self loop (every SelfInterval) looks at the
	// announcement and would publish in the same pass: after several,
	// the record has been held back, not merely not reached yet.
	coretest.WaitFor(t, "several passes of the self loop", func() bool { return looks.Load() >= 10 })
	if got := fake.publishes(); len(got) != 0 {
		t.Fatalf("published before the first snapshot (tunnel had %v peers)", got)
	}

	close(fake.release)
	coretest.WaitFor(t, "the record published", func() bool { return len(fake.publishes()) > 0 })
	if got := fake.publishes()[0]; got != len(recs) {
		t.Fatalf("the first publish saw %d peers in the tunnel, want the snapshot's %d", got, len(recs))
	}
	self, _ := fake.lastPublished()
	if core.PublicKey(self.PublicKey) != core.PublicKey(key(0x99)) {
		t.Fatalf("published key %v", core.PublicKey(self.PublicKey))
	}
}

// A registry that never completes its first snapshot holds the record
// back only for FirstPublishWait, and says so in the log.
func TestDiscoveryFirstPublishCap(t *testing.T) {
	tun := newMemTunnel(core.PublicKey(key(0x99)))
	fake := newHeldFake(tun, rec(key(1), "198.51.100.1:51820", "10.0.0.1/32")) // never released
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	startFakeDiscoveryLog(t, log, fake, DiscoveryOptions{
		Tunnel: tun, Announce: firstPublishAnn,
		SelfInterval: time.Hour, WatchRetry: 10 * time.Millisecond,
		FirstPublishWait: 20 * time.Millisecond,
	})
	coretest.WaitFor(t, "the record published without a snapshot", func() bool { return len(fake.publishes()) > 0 })
	if got := fake.publishes()[0]; got != 0 {
		t.Fatalf("the tunnel had %d peers without a snapshot", got)
	}
	if !strings.Contains(logs.String(), "No snapshot from the discovery plugin yet") {
		t.Fatalf("the cap was not logged:\n%s", logs.String())
	}
}

// Once published, the record goes to a restarted plugin at once, in
// onStart, without waiting for the new instance's snapshot (which this
// one never sends): a reconnect neither withdraws nor delays it.
func TestDiscoveryRestartPublishesWithoutWaiting(t *testing.T) {
	tun := newMemTunnel(core.PublicKey(key(0x99)))
	first := newFake(rec(key(1), "198.51.100.1:51820", "10.0.0.1/32"))
	d := startFakeDiscoveryWith(t, first, DiscoveryOptions{
		Tunnel: tun, Announce: firstPublishAnn,
		SelfInterval: time.Hour, WatchRetry: 10 * time.Millisecond,
		FirstPublishWait: time.Hour,
	})
	coretest.WaitFor(t, "the snapshot applied and the first record", func() bool {
		_, ok := first.lastPublished()
		return ok && len(tun.Snapshot().Peers) == 1
	})

	second := newHeldFake(tun) // its stream never starts
	restart(t, d, second)
	got := second.publishes()
	if len(got) != 1 || got[0] != 1 {
		t.Fatalf("the restarted plugin got %d publishes (tunnel peers at each: %v), want one at once, with the peer kept", len(got), got)
	}
	self, _ := second.lastPublished()
	if core.PublicKey(self.PublicKey) != core.PublicKey(key(0x99)) {
		t.Fatalf("published key %v", core.PublicKey(self.PublicKey))
	}
}
