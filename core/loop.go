// SPDX-License-Identifier: MIT

package core

import (
	"encoding/binary"
	"net/netip"
)

// A routing loop: the route to a peer's endpoint leads into the tunnel
// itself (a default route through the interface without the fwmark rule,
// an allowed IP covering the endpoint). Every outer datagram then comes
// back out of the device as an inner packet, is encrypted again, and so
// on, each round larger, without end. The kernel refuses to send an outer
// packet whose route leads back into the interface (ELOOP); a userspace
// tunnel cannot see its outer packet's route, but it sees the packet when
// it comes back: a UDP datagram from the tunnel's own listening port to
// one of its peers' endpoints. That one is dropped (DropRoutingLoop), so a
// loop ends after one round. A WireGuard tunnel carried inside this one
// (wg-through-wg) is not affected: its datagrams leave from its own port
// towards an endpoint that is not one of this tunnel's peers.

// routingLoop reports whether pkt, read from the device, is one of this
// tunnel's own outer datagrams coming back.
func (t *Tunnel) routingLoop(pkt []byte) bool {
	port := uint16(t.outerPort.Load())
	if port == 0 {
		return false
	}
	dst, ok := udpFromPort(pkt, port)
	if !ok {
		return false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, p := range t.peers {
		if ep := p.getEndpoint(); ep != nil && ep.DstAddrPort() == dst {
			return true
		}
	}
	return false
}

// udpFromPort returns the destination of pkt if it is an unfragmented (or
// first-fragment) UDP datagram with source port sport.
func udpFromPort(pkt []byte, sport uint16) (netip.AddrPort, bool) {
	be := binary.BigEndian
	if len(pkt) < 1 {
		return netip.AddrPort{}, false
	}
	var dst netip.Addr
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 || pkt[9] != 17 || be.Uint16(pkt[6:8])&0x1fff != 0 {
			return netip.AddrPort{}, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl+8 {
			return netip.AddrPort{}, false
		}
		dst, l4 = netip.AddrFrom4([4]byte(pkt[16:20])), pkt[ihl:]
	case 6:
		if len(pkt) < 48 || pkt[6] != 17 {
			return netip.AddrPort{}, false
		}
		dst, l4 = netip.AddrFrom16([16]byte(pkt[24:40])), pkt[40:]
	default:
		return netip.AddrPort{}, false
	}
	if be.Uint16(l4[0:2]) != sport {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(dst, be.Uint16(l4[2:4])), true
}
