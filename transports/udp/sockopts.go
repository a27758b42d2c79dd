// SPDX-License-Identifier: MIT

package udp

import (
	"encoding/binary"
	"net/netip"
)

// This file chooses, per operating system, the socket options the BSD and
// macOS transport uses: how a datagram's local (destination) address is
// reported so that replies can stick to it, how a source address is given
// when sending, and which option stands in for Linux's firewall mark. It is
// plain Go so that the choice and the control-message payloads are tested
// on any host; bind_bsd.go does the system calls.

// srcFormat is the payload of the IPv4 control message that carries an
// address.
type srcFormat int

const (
	// formatNone: the system has no usable IPv4 option; no sticky source.
	formatNone srcFormat = iota
	// formatInAddr is a bare struct in_addr (IP_RECVDSTADDR on receive,
	// IP_SENDSRCADDR on send), as FreeBSD and OpenBSD do it.
	formatInAddr
	// formatInPktinfo is struct in_pktinfo {ipi_ifindex, ipi_spec_dst,
	// ipi_addr}, as macOS does it (IP_RECVPKTINFO / IP_PKTINFO).
	formatInPktinfo
)

// Protocol levels and the RFC 3542 IPv6 packet information options, the
// same numbers on the BSDs and macOS.
const (
	levelSocket       = 0xffff // SOL_SOCKET on the BSDs and macOS
	levelIP           = 0      // IPPROTO_IP
	levelIPv6         = 41     // IPPROTO_IPV6
	ipv6RecvPktinfo   = 36     // IPV6_RECVPKTINFO on FreeBSD, NetBSD, OpenBSD
	darwinRecvPkt6    = 0x3d   // IPV6_RECVPKTINFO on macOS
	ipv6Pktinfo       = 46     // IPV6_PKTINFO everywhere
	ipRecvDstAddr     = 7      // IP_RECVDSTADDR
	ipSendSrcAddr     = 7      // IP_SENDSRCADDR (FreeBSD, OpenBSD)
	darwinIPPktinfo   = 0x1a   // IP_PKTINFO and IP_RECVPKTINFO on macOS
	freebsdUserCookie = 0x1015 // SO_USER_COOKIE
	openbsdRtable     = 0x1021 // SO_RTABLE
)

// sockOpts is one system's choice.
type sockOpts struct {
	// IPv4: the option (level IPPROTO_IP) that turns on reporting of the
	// destination address, the control-message types received and sent,
	// and their payload. v4Format formatNone disables IPv4 sticky sources.
	v4RecvOpt  int
	v4RecvType int
	v4SendType int
	v4Format   srcFormat
	// IPv6: IPV6_RECVPKTINFO to turn it on, IPV6_PKTINFO both ways, with
	// struct in6_pktinfo. v6 false disables IPv6 sticky sources.
	v6RecvOpt int
	v6Type    int
	v6        bool
	// markOpt is the SOL_SOCKET option SetMark sets, 0 if none: FreeBSD's
	// SO_USER_COOKIE (matched by ipfw and pf), OpenBSD's SO_RTABLE (the
	// routing table the socket uses, which needs root).
	markOpt int
}

// sockOptsFor returns the choice for goos (runtime.GOOS).
//
// NetBSD gets IPv6 only: its IPv4 source-selection message is not the
// FreeBSD one on every release, and a wrong guess would fail every send.
// Systems not listed (Windows, DragonFly, ...) use neither.
func sockOptsFor(goos string) sockOpts {
	v6 := sockOpts{v6RecvOpt: ipv6RecvPktinfo, v6Type: ipv6Pktinfo, v6: true}
	switch goos {
	case "freebsd":
		o := v6
		o.v4RecvOpt, o.v4RecvType, o.v4SendType, o.v4Format = ipRecvDstAddr, ipRecvDstAddr, ipSendSrcAddr, formatInAddr
		o.markOpt = freebsdUserCookie
		return o
	case "openbsd":
		o := v6
		o.v4RecvOpt, o.v4RecvType, o.v4SendType, o.v4Format = ipRecvDstAddr, ipRecvDstAddr, ipSendSrcAddr, formatInAddr
		o.markOpt = openbsdRtable
		return o
	case "netbsd":
		return v6
	case "darwin":
		o := v6
		o.v6RecvOpt = darwinRecvPkt6
		o.v4RecvOpt, o.v4RecvType, o.v4SendType, o.v4Format = darwinIPPktinfo, darwinIPPktinfo, darwinIPPktinfo, formatInPktinfo
		return o
	}
	return sockOpts{}
}

// Payload sizes.
const (
	sizeofInAddr     = 4
	sizeofInPktinfo  = 12
	sizeofIn6Pktinfo = 20
)

// decodeV4Dst returns the destination address of a received IPv4
// datagram, and the interface it came in on when the payload says so.
func (o *sockOpts) decodeV4Dst(data []byte) (netip.Addr, int, bool) {
	switch o.v4Format {
	case formatInAddr:
		if len(data) < sizeofInAddr {
			return netip.Addr{}, 0, false
		}
		return netip.AddrFrom4([4]byte(data[:4])), 0, true
	case formatInPktinfo:
		if len(data) < sizeofInPktinfo {
			return netip.Addr{}, 0, false
		}
		// ipi_addr, the header's destination, is the address the peer
		// wrote to.
		return netip.AddrFrom4([4]byte(data[8:12])), int(binary.NativeEndian.Uint32(data)), true
	}
	return netip.Addr{}, 0, false
}

// encodeV4Src returns the payload that makes a datagram leave from src.
func (o *sockOpts) encodeV4Src(src netip.Addr) []byte {
	a := src.As4()
	switch o.v4Format {
	case formatInAddr:
		return a[:]
	case formatInPktinfo:
		// ipi_spec_dst is the source to use; the interface is left to
		// routing.
		b := make([]byte, sizeofInPktinfo)
		copy(b[4:8], a[:])
		return b
	}
	return nil
}

// decodeV6Dst reads struct in6_pktinfo {ipi6_addr, ipi6_ifindex}.
func decodeV6Dst(data []byte) (netip.Addr, int, bool) {
	if len(data) < sizeofIn6Pktinfo {
		return netip.Addr{}, 0, false
	}
	return netip.AddrFrom16([16]byte(data[:16])), int(binary.NativeEndian.Uint32(data[16:])), true
}

// encodeV6Src writes struct in6_pktinfo for source src. The interface is
// given only for a link-local source, which is ambiguous without it.
func encodeV6Src(src netip.Addr, ifindex int) []byte {
	b := make([]byte, sizeofIn6Pktinfo)
	a := src.As16()
	copy(b, a[:])
	if src.IsLinkLocalUnicast() {
		binary.NativeEndian.PutUint32(b[16:], uint32(ifindex))
	}
	return b
}
