// SPDX-License-Identifier: MIT

package udp

// Options switch the bind's offloads off; the zero value asks for every
// one the kernel offers. The daemon fills them from its configuration
// (WGPLEX_UDP_GSO, WGPLEX_UDP_GRO, WGPLEX_UDP_HANDSHAKE_SOCKET); only Linux
// has these offloads.
type Options struct {
	NoGSO bool // do not send runs of datagrams with UDP_SEGMENT
	NoGRO bool // do not receive coalesced datagrams with UDP_GRO
	// HandshakeSocket steers every datagram but data messages to a
	// socket of their own on the same port (hsock_linux.go). Off by
	// default: in side-by-side flood runs it kept the data path's
	// throughput better in one and worse in another, so it is not shown
	// to help (bench/results/2026-12-03-flood.md).
	HandshakeSocket bool
}
