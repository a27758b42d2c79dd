// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// Netlink messages are in host byte order, laid out as:
//
//	nlmsghdr   len u32 | type u16 | flags u16 | seq u32 | pid u32   (16 bytes)
//	ifinfomsg  family u8 | pad u8 | type u16 | index i32 | flags u32 | change u32
//	rtattr...  len u16 | type u16 | value, each padded to 4 bytes
//
// The parser works on plain byte slices with explicit bounds checks rather
// than casting pointers, so that truncated or hostile input can only make
// it return an error.

const (
	nlmsgHdrLen  = 16
	ifinfomsgLen = 16
	rtattrHdrLen = 4
	nlaTypeMask  = 0x3fff // clears NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nlAlignTo    = 4
)

// errMalformed reports a netlink message whose lengths do not add up.
var errMalformed = errors.New("tun: malformed netlink message")

// linkUpdate is what the watcher needs from an RTM_NEWLINK or RTM_DELLINK.
type linkUpdate struct {
	index   int32
	deleted bool
	flags   uint32
	mtu     uint32
	hasMTU  bool
}

func nlAlign(n int) int { return (n + nlAlignTo - 1) &^ (nlAlignTo - 1) }

// parseLinkMessages appends the link updates found in one netlink datagram
// to dst. Messages of other types are skipped. On malformed input it
// returns what it parsed before the fault together with errMalformed.
func parseLinkMessages(dst []linkUpdate, b []byte) ([]linkUpdate, error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return dst, errMalformed
		}
		l := int(ne.Uint32(b[0:4]))
		typ := ne.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			return dst, errMalformed
		}
		body := b[nlmsgHdrLen:l]
		if typ == unix.RTM_NEWLINK || typ == unix.RTM_DELLINK {
			u, ok, err := parseIfinfo(body)
			if ok {
				// Even with a bad attribute, index and flags are sound, and
				// a deletion must not be missed.
				u.deleted = typ == unix.RTM_DELLINK
				dst = append(dst, u)
			}
			if err != nil {
				return dst, err
			}
		}
		// The last message of a datagram need not be padded.
		next := nlAlign(l)
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	return dst, nil
}

// parseIfinfo decodes an ifinfomsg and the attributes after it. ok reports
// whether the fixed header was complete.
func parseIfinfo(body []byte) (u linkUpdate, ok bool, err error) {
	ne := binary.NativeEndian
	if len(body) < ifinfomsgLen {
		return linkUpdate{}, false, errMalformed
	}
	u = linkUpdate{
		index: int32(ne.Uint32(body[4:8])),
		flags: ne.Uint32(body[8:12]),
	}
	attrs := body[ifinfomsgLen:]
	for len(attrs) >= rtattrHdrLen {
		l := int(ne.Uint16(attrs[0:2]))
		typ := ne.Uint16(attrs[2:4]) & nlaTypeMask
		if l < rtattrHdrLen || l > len(attrs) {
			return u, true, errMalformed
		}
		val := attrs[rtattrHdrLen:l]
		if typ == unix.IFLA_MTU && len(val) >= 4 {
			u.mtu, u.hasMTU = ne.Uint32(val[0:4]), true
		}
		next := nlAlign(l)
		if next >= len(attrs) {
			break
		}
		attrs = attrs[next:]
	}
	return u, true, nil
}
