// SPDX-License-Identifier: MIT

package core_test

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// udpPacket is an IPv4 or IPv6 UDP datagram (checksum left zero).
func udpPacket(src netip.Addr, sport uint16, dst netip.AddrPort, payload []byte) []byte {
	l4 := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dst.Port())
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	copy(l4[8:], payload)
	return ipPacket(src, dst.Addr(), l4)
}

// A datagram from the tunnel's own port to a peer's endpoint, coming out
// of the device, is the tunnel's outer packet routed back into it: dropped
// as a routing loop. Datagrams to that endpoint from another port, or from
// the tunnel's port to another address (wg-through-wg), pass.
func TestRoutingLoopDropped(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, _ := pair(t, clock, false)
	// a routes b's underlay address into the tunnel, as a default route
	// through the interface without fwmark rules would.
	if err := a.Tunnel.Apply(core.Config{Peers: []core.PeerConfig{{
		PublicKey:  b.Pub,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("192.0.2.0/24")}, {Prefix: netip.MustParsePrefix("fd00:2::/64")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	send(t, a, b, "session")
	bEP := netip.MustParseAddrPort("192.0.2.2:51821")
	inner := func(src netip.Addr, sport uint16, dst netip.AddrPort) []byte {
		return udpPacket(src, sport, dst, []byte{4, 0, 0, 0, 1, 2, 3, 4})
	}
	for _, tc := range []struct {
		name string
		pkt  []byte
		loop bool
	}{
		{"own port to the peer's endpoint", inner(a.Inner, 51820, bEP), true},
		{"another port to the peer's endpoint", inner(a.Inner, 40000, bEP), false},
		{"own port to another port of the peer", inner(a.Inner, 51820, netip.MustParseAddrPort("192.0.2.2:51999")), false},
		{"own port to another address (wg-through-wg)", inner(a.Inner, 51820, netip.MustParseAddrPort("192.0.2.3:51821")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.Tunnel.Stats().Drops[core.DropRoutingLoop]
			a.Dev.Inject(tc.pkt)
			if tc.loop {
				waitFor(t, "the loop drop", func() bool { return a.Tunnel.Stats().Drops[core.DropRoutingLoop] == before+1 })
				// Nothing reaches b; the next packet proves the reader moved on.
				send(t, a, b, "after the loop")
				return
			}
			expectPacket(t, b.Dev, tc.pkt)
			if got := a.Tunnel.Stats().Drops[core.DropRoutingLoop]; got != before {
				t.Fatalf("routing_loop drops %d -> %d", before, got)
			}
		})
	}
}
