// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// With a tunnel that reports its changes, discovery follows them as they
// come, not on a timer: the slow pass here is an hour away, yet a new
// interface key is published, a discovered peer removed by hand comes
// back, and the managed list follows the registry.
func TestDiscoveryFollowsTunnelChanges(t *testing.T) {
	tun := newTestTunnel(t)
	a, b := rec(key(1), "198.51.100.1:51820", "10.0.0.1/32"), rec(key(2), "198.51.100.2:51820", "10.0.0.2/32")
	fake := newFake(a)
	var mu sync.Mutex
	var told [][]core.PublicKey
	startFakeDiscoveryWith(t, fake, DiscoveryOptions{
		Tunnel: tun, Announce: Announcement{Endpoints: []string{"192.0.2.1:51820"}},
		SelfInterval: time.Hour, WatchRetry: 10 * time.Millisecond,
		OnManaged: func(keys []core.PublicKey) {
			mu.Lock()
			told = append(told, keys)
			mu.Unlock()
		},
	})
	lastTold := func() []core.PublicKey {
		mu.Lock()
		defer mu.Unlock()
		if len(told) == 0 {
			return nil
		}
		return told[len(told)-1]
	}
	coretest.WaitFor(t, "the first snapshot applied", func() bool { return len(peers(tun)) == 1 })
	coretest.WaitFor(t, "the managed list", func() bool {
		return slices.Equal(lastTold(), []core.PublicKey{core.PublicKey(a.PublicKey)})
	})

	priv := randomKey(t)
	if err := tun.Apply(core.Config{PrivateKey: (*core.PrivateKey)(&priv)}); err != nil {
		t.Fatal(err)
	}
	coretest.WaitFor(t, "the new key published", func() bool {
		r, _ := fake.lastPublished()
		pub, _ := tun.Identity()
		return core.PublicKey(r.PublicKey) == pub
	})

	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: core.PublicKey(a.PublicKey), Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	coretest.WaitFor(t, "the peer removed by hand back", func() bool { return len(peers(tun)) == 1 })

	fake.events <- func(s sdk.DiscoverySink) error { return s.Upsert(b) }
	coretest.WaitFor(t, "the managed list with the new peer", func() bool {
		return len(peers(tun)) == 2 && slices.Equal(lastTold(), []core.PublicKey{core.PublicKey(a.PublicKey), core.PublicKey(b.PublicKey)})
	})
}

// Host-name endpoints are looked up again: a new address is applied, a
// failed lookup or an unchanged one changes nothing (an endpoint the peer
// roamed to stays).
func TestDiscoveryReresolvesHostNames(t *testing.T) {
	var mu sync.Mutex
	addr := map[string]netip.AddrPort{"node1.example:51820": netip.MustParseAddrPort("198.51.100.1:51820")}
	resolve := func(_ context.Context, e string) (netip.AddrPort, error) {
		mu.Lock()
		defer mu.Unlock()
		if ap, ok := addr[e]; ok {
			return ap, nil
		}
		return netip.AddrPort{}, errors.New("no such host")
	}
	setAddr := func(ap netip.AddrPort, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			addr["node1.example:51820"] = ap
		} else {
			delete(addr, "node1.example:51820")
		}
	}
	tun := newMemTunnel(core.PublicKey{0xff})
	b := newPeerBook(testLog(t), tun, nil, "", resolve)
	k := key(1)
	b.snapshot([]sdk.Record{rec(k, "node1.example:51820", "10.0.0.1/32")})
	endpoint := func() netip.AddrPort {
		tun.mu.Lock()
		defer tun.mu.Unlock()
		if p := tun.peers[core.PublicKey(k)]; p != nil {
			return p.endpoint
		}
		return netip.AddrPort{}
	}
	if got := endpoint(); got != netip.MustParseAddrPort("198.51.100.1:51820") {
		t.Fatalf("endpoint %v after the snapshot", got)
	}

	setAddr(netip.MustParseAddrPort("198.51.100.7:51820"), true)
	b.reresolve(context.Background())
	if got := endpoint(); got != netip.MustParseAddrPort("198.51.100.7:51820") {
		t.Fatalf("endpoint %v after the name moved", got)
	}

	// The peer roams; the name still says what it said: nothing undone.
	roamed := netip.MustParseAddrPort("203.0.113.9:40000")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: core.PublicKey(k), UpdateOnly: true, Endpoint: &roamed}}}); err != nil {
		t.Fatal(err)
	}
	b.reresolve(context.Background())
	if got := endpoint(); got != roamed {
		t.Fatalf("endpoint %v: roaming undone by a lookup that did not change", got)
	}
	setAddr(netip.AddrPort{}, false)
	b.reresolve(context.Background())
	if got := endpoint(); got != roamed {
		t.Fatalf("endpoint %v after a failed lookup", got)
	}
	if !b.tunnelChanged() {
		t.Fatal("the roaming change made outside the book went unnoticed")
	}
}
