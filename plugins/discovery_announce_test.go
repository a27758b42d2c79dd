// SPDX-License-Identifier: MIT

package plugins

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// A node brought up as address first, key second publishes its address
// with its first record: the key makes discovery look at the announcement
// again rather than publish the one it took before the address was set
// and correct it at the next announcement check (a second later on every
// other node of the mesh).
func TestDiscoveryNewKeyTakesFreshAnnouncement(t *testing.T) {
	tun := newTestTunnel(t)
	fake := newFake()
	var mu sync.Mutex
	ann := Announcement{Endpoints: []string{"192.0.2.1:51820"}}
	var looks atomic.Int32
	startFakeDiscoveryWith(t, fake, DiscoveryOptions{
		Tunnel: tun, SelfInterval: time.Hour, WatchRetry: 10 * time.Millisecond,
		AnnounceFunc: func() Announcement {
			looks.Add(1)
			mu.Lock()
			defer mu.Unlock()
			return ann
		},
	})
	// Looks: when discovery is made and at the self loop's first pass,
	// after which it keeps what it saw (the plugin's start does not
	// look: the first record waits for the first snapshot).
	coretest.WaitFor(t, "the self loop's first look at the announcement", func() bool { return looks.Load() >= 2 })

	addr := netip.MustParsePrefix("10.9.9.9/32")
	mu.Lock()
	ann.AllowedIPs = []netip.Prefix{addr}
	mu.Unlock()
	priv := randomKey(t)
	if err := tun.Apply(core.Config{PrivateKey: (*core.PrivateKey)(&priv)}); err != nil {
		t.Fatal(err)
	}
	pub, _ := tun.Identity()
	// The tunnel may have had a key of its own already: look at the first
	// record with the new one.
	firstWith := func() (sdk.Record, bool) {
		fake.mu.Lock()
		defer fake.mu.Unlock()
		for _, r := range fake.published {
			if core.PublicKey(r.PublicKey) == pub {
				return r, true
			}
		}
		return sdk.Record{}, false
	}
	coretest.WaitFor(t, "a record with the new key published", func() bool { _, ok := firstWith(); return ok })
	first, _ := firstWith()
	if !slices.Contains(first.AllowedIPs, addr) {
		t.Fatalf("the first record published with the new key has %v, without the address set before the key", first.AllowedIPs)
	}
}
