// SPDX-License-Identifier: MIT

package udp

import "golang.org/x/sys/unix"

// Compile-time checks that the numbers sockOptsFor uses for this system
// are its own: each pair of conversions is valid only when they are equal.
const (
	_ = uint(unix.IPV6_RECVPKTINFO - darwinRecvPkt6)
	_ = uint(darwinRecvPkt6 - unix.IPV6_RECVPKTINFO)
	_ = uint(unix.IP_PKTINFO - darwinIPPktinfo)
	_ = uint(darwinIPPktinfo - unix.IP_PKTINFO)
	_ = uint(unix.IP_RECVPKTINFO - darwinIPPktinfo)
	_ = uint(darwinIPPktinfo - unix.IP_RECVPKTINFO)
)
