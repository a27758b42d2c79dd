// SPDX-License-Identifier: MIT

package bsd

import (
	"encoding/binary"
	"errors"
)

// ErrBadRouteMessage is returned for routing-socket data whose framing is
// broken: a message length shorter than the common header or running past
// the end of what was read.
var ErrBadRouteMessage = errors.New("bsd: malformed routing message")

// rtLayout says where one system's kernel puts the fields wgplex needs in
// the routing messages it sends: the interface information message (struct
// if_msghdr, RTM_IFINFO) and the interface announcement (struct
// if_announcemsghdr, RTM_IFANNOUNCE). Offsets are from the start of the
// message; integers are in host byte order.
type rtLayout struct {
	version    uint8 // RTM_VERSION
	ifInfo     uint8 // RTM_IFINFO
	ifAnnounce uint8 // RTM_IFANNOUNCE, 0 where the system has none (macOS)

	ifmIndex int // ifm_index, uint16
	ifmFlags int // ifm_flags, int32
	ifmMTU   int // ifm_data.ifi_mtu, uint32 (uint64 on NetBSD, read as such)
	mtu64    bool

	annIndex int // ifan_index, uint16
	annWhat  int // ifan_what, uint16
}

// ifanDeparture is IFAN_DEPARTURE, the same on every system that has it.
const ifanDeparture = 1

// iffUp is IFF_UP, the same on every system.
const iffUp = 0x1

// The offsets and message numbers of each system, from its <net/if.h>,
// <net/route.h>. The files built for each system check them against
// golang.org/x/sys/unix at compile time.
const (
	darwinRTMVersion   = 5
	darwinRTMIfInfo    = 0xe
	freebsdRTMVersion  = 5
	freebsdRTMIfInfo   = 0xe
	freebsdRTMAnnounce = 0x11
	netbsdRTMVersion   = 4
	netbsdRTMIfInfo    = 0x14
	netbsdRTMAnnounce  = 0x10
	openbsdRTMVersion  = 5
	openbsdRTMIfInfo   = 0xe
	openbsdRTMAnnounce = 0xf

	darwinIfmIndex = 12
	darwinIfmFlags = 8
	darwinIfmData  = 16

	freebsdIfmIndex = 12
	freebsdIfmFlags = 8
	freebsdIfmData  = 16
	freebsdAnnIndex = 4
	freebsdAnnWhat  = 22

	netbsdIfmIndex = 12
	netbsdIfmFlags = 8
	netbsdIfmData  = 16
	netbsdAnnIndex = 4
	netbsdAnnWhat  = 22

	openbsdIfmIndex = 6
	openbsdIfmFlags = 16
	openbsdIfmData  = 24
	openbsdAnnIndex = 6
	openbsdAnnWhat  = 8
)

var (
	// macOS has no interface announcements: a utun interface lives exactly
	// as long as its control socket, which only this process holds.
	rtDarwin = rtLayout{
		version: darwinRTMVersion, ifInfo: darwinRTMIfInfo,
		ifmIndex: darwinIfmIndex, ifmFlags: darwinIfmFlags, ifmMTU: darwinIfmData + 8,
	}
	// FreeBSD's if_data has a 32-bit ifi_mtu since FreeBSD 11 (older
	// headers, and x/sys, have a long; the low half is at the same place on
	// the little-endian machines wgplex is built for).
	rtFreeBSD = rtLayout{
		version: freebsdRTMVersion, ifInfo: freebsdRTMIfInfo, ifAnnounce: freebsdRTMAnnounce,
		ifmIndex: freebsdIfmIndex, ifmFlags: freebsdIfmFlags, ifmMTU: freebsdIfmData + 8,
		annIndex: freebsdAnnIndex, annWhat: freebsdAnnWhat,
	}
	rtNetBSD = rtLayout{
		version: netbsdRTMVersion, ifInfo: netbsdRTMIfInfo, ifAnnounce: netbsdRTMAnnounce,
		ifmIndex: netbsdIfmIndex, ifmFlags: netbsdIfmFlags, ifmMTU: netbsdIfmData + 8, mtu64: true,
		annIndex: netbsdAnnIndex, annWhat: netbsdAnnWhat,
	}
	rtOpenBSD = rtLayout{
		version: openbsdRTMVersion, ifInfo: openbsdRTMIfInfo, ifAnnounce: openbsdRTMAnnounce,
		ifmIndex: openbsdIfmIndex, ifmFlags: openbsdIfmFlags, ifmMTU: openbsdIfmData + 4,
		annIndex: openbsdAnnIndex, annWhat: openbsdAnnWhat,
	}
)

// ifInfoMin is the shortest RTM_IFINFO message the layout can read.
func (l *rtLayout) ifInfoMin() int {
	n := max(l.ifmIndex+2, l.ifmFlags+4, l.ifmMTU+4)
	if l.mtu64 {
		n = max(n, l.ifmMTU+8)
	}
	return n
}

// linkUpdate is what one routing message says about an interface.
type linkUpdate struct {
	index    uint16
	departed bool // RTM_IFANNOUNCE with IFAN_DEPARTURE: the interface is gone
	up       bool
	mtu      uint32
}

// rtmHeaderLen is the common header of every routing message: length
// (uint16), version, type.
const rtmHeaderLen = 4

// parseRouteMessages appends to dst what the routing messages in b say
// about interfaces and returns it. Messages of another version or type, and
// interface messages too short for the layout, are skipped. Broken framing
// stops the parse with ErrBadRouteMessage; what was parsed before it is
// returned. Integers are in host byte order, as the kernel writes them.
func parseRouteMessages(dst []linkUpdate, b []byte, l *rtLayout) ([]linkUpdate, error) {
	for len(b) > 0 {
		if len(b) < rtmHeaderLen {
			return dst, ErrBadRouteMessage
		}
		n := int(binary.NativeEndian.Uint16(b))
		if n < rtmHeaderLen || n > len(b) {
			return dst, ErrBadRouteMessage
		}
		m := b[:n]
		b = b[n:]
		if m[2] != l.version {
			continue
		}
		switch typ := m[3]; {
		case typ == l.ifInfo:
			if n < l.ifInfoMin() {
				continue
			}
			u := linkUpdate{
				index: binary.NativeEndian.Uint16(m[l.ifmIndex:]),
				up:    binary.NativeEndian.Uint32(m[l.ifmFlags:])&iffUp != 0,
			}
			if l.mtu64 {
				u.mtu = uint32(min(binary.NativeEndian.Uint64(m[l.ifmMTU:]), 1<<32-1))
			} else {
				u.mtu = binary.NativeEndian.Uint32(m[l.ifmMTU:])
			}
			dst = append(dst, u)
		case l.ifAnnounce != 0 && typ == l.ifAnnounce:
			if n < max(l.annIndex, l.annWhat)+2 {
				continue
			}
			if binary.NativeEndian.Uint16(m[l.annWhat:]) != ifanDeparture {
				continue
			}
			dst = append(dst, linkUpdate{index: binary.NativeEndian.Uint16(m[l.annIndex:]), departed: true})
		}
	}
	return dst, nil
}
