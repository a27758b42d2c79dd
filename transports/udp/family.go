// SPDX-License-Identifier: MIT

package udp

import (
	"errors"
	"net"
	"net/netip"
)

// ErrNoSocket is returned by Send when the Bind has no socket for the
// endpoint's address family (IPv6 disabled on the host, for instance).
var ErrNoSocket = errors.New("udp: no socket for address family")

// socketFor picks, of a Bind's two sockets, the one for dst's address
// family, with dst unmapped (an IPv4-mapped IPv6 address goes out on the
// IPv4 socket). It fails with net.ErrClosed when the Bind has no socket at
// all and ErrNoSocket when only the other family is open. The per-OS
// Binds hold different socket types; the choice is the same everywhere.
func socketFor[S comparable](v4, v6 S, dst netip.AddrPort) (S, netip.AddrPort, error) {
	var none S
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	s := v6
	if dst.Addr().Is4() {
		s = v4
	}
	if s == none {
		if v4 == none && v6 == none {
			return none, dst, net.ErrClosed
		}
		return none, dst, ErrNoSocket
	}
	return s, dst, nil
}
