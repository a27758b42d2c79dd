// SPDX-License-Identifier: MIT

package udp

// Options switch the bind's offloads off; the zero value asks for every
// one the kernel offers. The daemon fills them from its configuration
// (WGPLEX_UDP_GSO, WGPLEX_UDP_GRO, WGPLEX_UDP_HANDSHAKE_SOCKET); only Linux
// has these offloads.
type Options struct {
	NoGSO bool // do not send runs of datagrams with UDP_SEGMENT
	NoGRO bool // do not receive coalesced datagrams with UDP_GRO
	// NoHandshakeSocket keeps handshake messages on the data socket.
	// Without it every datagram but data messages goes to a socket of
	// its own on the same port (hsock_linux.go), so a handshake flood
	// never wakes the goroutine reading data: under a 50,000 pps flood
	// that kept more of a TCP stream's throughput in three of four
	// side-by-side runs, with no cost to latency seen
	// (bench/results/2026-12-03-hsock-default.md).
	NoHandshakeSocket bool
}
