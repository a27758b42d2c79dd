// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"
)

// The rtnetlink messages the route watcher reads and writes, in host byte
// order:
//
//	nlmsghdr  len u32 | type u16 | flags u16 | seq u32 | pid u32   (16 bytes)
//	rtmsg     family u8 | dst_len u8 | src_len u8 | tos u8 | table u8 |
//	          protocol u8 | scope u8 | type u8 | flags u32             (12 bytes)
//	rtattr... len u16 | type u16 | value, each padded to 4 bytes
//
// Every length is checked against the bytes that are there; input from the
// kernel is parsed as defensively as input from the network.

const (
	nlHdrLen    = 16
	rtmsgLen    = 12
	rtaHdrLen   = 4
	rtaTypeMask = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// errRouteMsg reports a netlink datagram whose lengths do not add up.
var errRouteMsg = errors.New("udp: malformed netlink message")

func nlAlign(n int) int { return (n + 3) &^ 3 }

// nlMessage is one message of a netlink datagram.
type nlMessage struct {
	typ  uint16
	seq  uint32
	body []byte
}

// splitNetlink calls fn for each message of a datagram, stopping at the
// first malformed one (whatever came before it was passed on).
func splitNetlink(b []byte, fn func(m nlMessage)) error {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlHdrLen {
			return errRouteMsg
		}
		l := int(ne.Uint32(b[0:4]))
		if l < nlHdrLen || l > len(b) {
			return errRouteMsg
		}
		fn(nlMessage{typ: ne.Uint16(b[4:6]), seq: ne.Uint32(b[8:12]), body: b[nlHdrLen:l]})
		next := nlAlign(l)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return nil
}

// isRoutingChange reports whether a notification may change which source
// address or interface the kernel picks for a destination: routes, local
// addresses and links (a link going down takes its routes along).
func isRoutingChange(typ uint16) bool {
	switch typ {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE,
		unix.RTM_NEWADDR, unix.RTM_DELADDR,
		unix.RTM_NEWLINK, unix.RTM_DELLINK,
		unix.RTM_NEWRULE, unix.RTM_DELRULE:
		return true
	}
	return false
}

// routeInfo is what a route lookup answered: the output interface and, if
// the route names one, its preferred source address.
type routeInfo struct {
	oif     int32
	prefsrc netip.Addr
}

// parseRoute decodes the rtmsg body of an RTM_NEWROUTE (the answer to an
// RTM_GETROUTE). ok is false when no output interface could be read.
func parseRoute(body []byte) (ri routeInfo, ok bool, err error) {
	ne := binary.NativeEndian
	if len(body) < rtmsgLen {
		return routeInfo{}, false, errRouteMsg
	}
	family := body[0]
	attrs := body[rtmsgLen:]
	for len(attrs) >= rtaHdrLen {
		l := int(ne.Uint16(attrs[0:2]))
		typ := ne.Uint16(attrs[2:4]) & rtaTypeMask
		if l < rtaHdrLen || l > len(attrs) {
			return ri, ri.oif != 0, errRouteMsg
		}
		val := attrs[rtaHdrLen:l]
		switch typ {
		case unix.RTA_OIF:
			if len(val) >= 4 {
				ri.oif = int32(ne.Uint32(val[0:4]))
			}
		case unix.RTA_PREFSRC:
			if family == unix.AF_INET && len(val) == 4 {
				ri.prefsrc = netip.AddrFrom4([4]byte(val))
			} else if family == unix.AF_INET6 && len(val) == 16 {
				ri.prefsrc = netip.AddrFrom16([16]byte(val))
			}
		}
		next := nlAlign(l)
		if next >= len(attrs) {
			break
		}
		attrs = attrs[next:]
	}
	return ri, ri.oif != 0, nil
}

// appendGetRoute appends an RTM_GETROUTE request for dst, under firewall
// mark (0 for none), numbered seq.
func appendGetRoute(b []byte, dst netip.Addr, mark uint32, seq uint32) []byte {
	ne := binary.NativeEndian
	start := len(b)
	b = append(b, make([]byte, nlHdrLen+rtmsgLen)...)
	h := b[start:]
	ne.PutUint16(h[4:6], unix.RTM_GETROUTE)
	ne.PutUint16(h[6:8], unix.NLM_F_REQUEST)
	ne.PutUint32(h[8:12], seq)
	rt := h[nlHdrLen:]
	if dst.Is4() {
		rt[0], rt[1] = unix.AF_INET, 32
		a := dst.As4()
		b = appendAttr(b, unix.RTA_DST, a[:])
	} else {
		rt[0], rt[1] = unix.AF_INET6, 128
		a := dst.As16()
		b = appendAttr(b, unix.RTA_DST, a[:])
	}
	if mark != 0 {
		var m [4]byte
		ne.PutUint32(m[:], mark)
		b = appendAttr(b, unix.RTA_MARK, m[:])
	}
	ne.PutUint32(b[start:start+4], uint32(len(b)-start))
	return b
}

func appendAttr(b []byte, typ uint16, val []byte) []byte {
	ne := binary.NativeEndian
	var h [rtaHdrLen]byte
	ne.PutUint16(h[0:2], uint16(rtaHdrLen+len(val)))
	ne.PutUint16(h[2:4], typ)
	b = append(b, h[:]...)
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
