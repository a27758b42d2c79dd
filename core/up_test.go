// SPDX-License-Identifier: MIT

package core_test

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// A peer configured while the interface is down gets a live retransmit
// timer the moment the interface comes up: an initiation lost because the
// other side was not listening yet is retried.
func TestInitiationLostBeforePeerIsUpIsRetried(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	nw := coretest.NewMemNetwork()
	a := newNode(t, nw, clock, "192.0.2.1", "10.0.0.1")
	b := newNode(t, nw, clock, "192.0.2.2", "10.0.0.2")
	bEP := netip.MustParseAddrPort("192.0.2.2:51821")
	// b drops everything until it is configured.
	var open atomic.Bool
	nw.SetFilter(func(from, to netip.AddrPort, pkt []byte) bool { return open.Load() })
	if err := a.Tunnel.Apply(core.Config{PrivateKey: &a.Key, ListenPort: u16(51820), Peers: []core.PeerConfig{{
		PublicKey: b.Pub, Endpoint: &bEP, AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a up", a.Tunnel.IsUp)
	a.Dev.Inject(ipPacket(a.Inner, b.Inner, []byte("early")))
	waitFor(t, "first initiation", func() bool { return a.Tunnel.Stats().InitiationsSent == 1 })
	settle(t, nw, a, b)
	if err := b.Tunnel.Apply(core.Config{PrivateKey: &b.Key, ListenPort: u16(51821), Peers: []core.PeerConfig{{
		PublicKey: a.Pub, AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b up", b.Tunnel.IsUp)
	settle(t, nw, a, b)
	open.Store(true)
	advance(t, clock, core.RekeyTimeout+core.RekeyTimeoutJitterMax, 10e6, nw, a, b)
	expectPacket(t, b.Dev, ipPacket(a.Inner, b.Inner, []byte("early")))
}
