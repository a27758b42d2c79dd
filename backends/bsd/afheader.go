// SPDX-License-Identifier: MIT

package bsd

import (
	"encoding/binary"
	"errors"
)

// afHeaderLen is the size of the address-family header tun(4) and utun put
// in front of every packet.
const afHeaderLen = 4

// ErrUnknownFamily is returned for a packet that is neither IPv4 nor IPv6,
// or a header naming another address family.
var ErrUnknownFamily = errors.New("bsd: packet is neither IPv4 nor IPv6")

// afTable holds one kernel's numbers for AF_INET and AF_INET6.
type afTable struct {
	inet, inet6 uint32
}

// The address families of each system, from its <sys/socket.h>. AF_INET
// is 2 everywhere. The files built for each system check these against
// golang.org/x/sys/unix at compile time.
const (
	afInet         = 2
	darwinAFInet6  = 30
	freebsdAFInet6 = 28
	netbsdAFInet6  = 24
	openbsdAFInet6 = 24
)

var (
	afDarwin  = afTable{inet: afInet, inet6: darwinAFInet6}
	afFreeBSD = afTable{inet: afInet, inet6: freebsdAFInet6}
	afNetBSD  = afTable{inet: afInet, inet6: netbsdAFInet6}
	afOpenBSD = afTable{inet: afInet, inet6: openbsdAFInet6}
)

// encode writes into hdr (at least afHeaderLen bytes) the header for the IP
// packet pkt, chosen by the version nibble of its first byte.
func (t afTable) encode(hdr, pkt []byte) error {
	if len(hdr) < afHeaderLen || len(pkt) == 0 {
		return ErrUnknownFamily
	}
	var af uint32
	switch pkt[0] >> 4 {
	case 4:
		af = t.inet
	case 6:
		af = t.inet6
	default:
		return ErrUnknownFamily
	}
	binary.BigEndian.PutUint32(hdr, af)
	return nil
}

// decode returns the IP version (4 or 6) named by the header hdr.
func (t afTable) decode(hdr []byte) (int, error) {
	if len(hdr) < afHeaderLen {
		return 0, ErrUnknownFamily
	}
	switch binary.BigEndian.Uint32(hdr) {
	case t.inet:
		return 4, nil
	case t.inet6:
		return 6, nil
	}
	return 0, ErrUnknownFamily
}
