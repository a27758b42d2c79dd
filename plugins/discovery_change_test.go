// SPDX-License-Identifier: MIT

package plugins

import (
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
