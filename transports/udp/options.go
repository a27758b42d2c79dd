// SPDX-License-Identifier: MIT

package udp

// Options switch the bind's offloads off; the zero value asks for every
// one the kernel offers. The daemon fills them from its configuration
// (WGPLEX_UDP_GSO, WGPLEX_UDP_GRO, WGPLEX_UDP_HANDSHAKE_SOCKET); only Linux
// has these offloads.
type Options struct {
	NoGSO bool // do not send runs of datagrams with UDP_SEGMENT
	NoGRO bool // do not receive coalesced datagrams with UDP_GRO
	// NoHandshakeSocket keeps handshake messages on the data socket
	// instead of steering them to a socket of their own (hsock_linux.go).
	NoHandshakeSocket bool
}
