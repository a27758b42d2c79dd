// SPDX-License-Identifier: MIT

package udp

import "golang.org/x/sys/unix"

// Compile-time checks that the numbers sockOptsFor uses for this system
// are its own: each pair of conversions is valid only when they are equal.
const (
	_ = uint(unix.IPV6_RECVPKTINFO - ipv6RecvPktinfo)
	_ = uint(ipv6RecvPktinfo - unix.IPV6_RECVPKTINFO)
)
