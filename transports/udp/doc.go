// SPDX-License-Identifier: MIT

// Package udp is wgplex's UDP transport: a core.Bind that listens on one port
// for both IPv4 and IPv6.
//
// On Linux it moves datagrams in batches with recvmmsg/sendmmsg, sends runs
// of equal-sized datagrams as one UDP GSO message (UDP_SEGMENT) and takes
// coalesced ones with UDP GRO, each switchable off (WGPLEX_UDP_GSO=off,
// WGPLEX_UDP_GRO=off; Bind.Offloads reports what is on), keeps a
// "sticky" source address per endpoint (the local address a peer wrote to,
// learnt from IP_PKTINFO / IPV6_PKTINFO) so that replies leave from that
// address on multi-homed hosts, and supports the firewall mark (SO_MARK).
// Sticky sources follow routing changes as the kernel's do: a route,
// address, link or rule change (rtnetlink) makes the Bind look up the route
// to each peer again, and a source learnt on another interface than the
// route now leaves through is left out so that the route's own source is
// used (route_linux.go); lookups are coalesced, so a flood of changes never
// stalls sends. Unless Options.NoHandshakeSocket is set, each family's socket
// has a companion on the same port that takes every datagram but data
// messages, steered there by a classic BPF program on their SO_REUSEPORT
// group (hsock_linux.go), so that a handshake flood never wakes the
// goroutine reading data.
// Elsewhere it falls back to one datagram per call on a plain net.UDPConn,
// without sticky sources or marks.
//
// # Endpoint ownership
//
// Every core.Endpoint this package hands out is a *Endpoint that stays valid
// for as long as anyone holds it: the Bind never reuses or rewrites an
// endpoint it has returned, so the engine may keep one as a peer's endpoint
// (roaming) without copying it. The only mutation is ClearSrc, which is safe
// to call from any goroutine. To avoid one allocation per datagram, a receive
// function keeps a small cache of the endpoints it returned recently and
// returns the same pointer again for the next datagram from the same remote
// address to the same local address; two datagrams from one sender may
// therefore carry the identical *Endpoint.
package udp
