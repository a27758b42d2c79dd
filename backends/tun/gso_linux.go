// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// With IFF_VNET_HDR every packet crossing the TUN file descriptor is preceded
// by a struct virtio_net_hdr (include/uapi/linux/virtio_net.h). On read it
// may describe a TCP or UDP "super-packet" of up to 64 KiB that the kernel
// did not segment (TSO/USO offered by us with TUNSETOFFLOAD), and a transport
// checksum that the kernel left for us to finish (NEEDS_CSUM). This file
// turns such a packet into the MTU-sized IP packets the engine encrypts one
// by one, exactly as the kernel's own GSO code would have segmented them.

// vnetHdrLen is sizeof(struct virtio_net_hdr); TUNSETVNETHDRSZ is left at
// this default.
const vnetHdrLen = 10

// Values of vnetHdr.gsoType and .flags.
const (
	gsoNone  = unix.VIRTIO_NET_HDR_GSO_NONE
	gsoTCPv4 = unix.VIRTIO_NET_HDR_GSO_TCPV4
	gsoTCPv6 = unix.VIRTIO_NET_HDR_GSO_TCPV6
	gsoUDPL4 = unix.VIRTIO_NET_HDR_GSO_UDP_L4
	gsoECN   = unix.VIRTIO_NET_HDR_GSO_ECN

	flagNeedsCsum = unix.VIRTIO_NET_HDR_F_NEEDS_CSUM
)

// maxIPPacket is the largest packet an IPv4 total length (or an IPv6
// payload length plus its fixed header) can describe without jumbograms.
const maxIPPacket = 65535

// vnetHdr is a decoded struct virtio_net_hdr. TUN uses the host's byte order
// for it (no TUNSETVNETLE/BE is set).
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16 // length of the headers up to the transport payload
	gsoSize    uint16 // transport payload per segment
	csumStart  uint16 // where the checksummed data starts
	csumOffset uint16 // where the checksum sits, counted from csumStart
}

func (h *vnetHdr) decode(b []byte) {
	h.flags = b[0]
	h.gsoType = b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
}

func (h *vnetHdr) encode(b []byte) {
	b[0] = h.flags
	b[1] = h.gsoType
	binary.NativeEndian.PutUint16(b[2:], h.hdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.gsoSize)
	binary.NativeEndian.PutUint16(b[6:], h.csumStart)
	binary.NativeEndian.PutUint16(b[8:], h.csumOffset)
}

// Why a packet read from the device cannot be used; it is dropped.
var (
	errShortPacket   = errors.New("tun: packet too short for its headers")
	errBadGSO        = errors.New("tun: unsupported or inconsistent GSO header")
	errBadCsumOffset = errors.New("tun: checksum offsets outside the packet")
	errSegmentRoom   = errors.New("tun: buffer too small for a segment")
)

// TCP header flags (RFC 9293 §3.1) and field offsets used below.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
	tcpURG = 0x20
	tcpECE = 0x40
	tcpCWR = 0x80

	tcpCsumOff = 16
	udpCsumOff = 6
)

// gsoPacket is what splitting needs to know about a super-packet, read once
// so that segment 0 may be rewritten in place while later segments still
// copy the original headers.
type gsoPacket struct {
	v6      bool
	udp     bool
	l4Off   int // start of the TCP/UDP header
	hdrLen  int // start of the payload
	gsoSize int
	segs    int
	ipID    uint16
	ipSum   uint16 // IPv4: sum of the header but its length, ID and checksum
	tcpSeq  uint32
	tcpFlag uint8
}

// parseGSO checks a super-packet against its virtio header and returns the
// facts splitting needs. Nothing from the header is trusted further than it
// can be checked against the packet.
func parseGSO(pkt []byte, h *vnetHdr) (gsoPacket, error) {
	var g gsoPacket
	if len(pkt) < 20 {
		return g, errShortPacket
	}
	typ := h.gsoType &^ gsoECN
	var proto uint8
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl {
			return g, errShortPacket
		}
		if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return g, errBadGSO // a fragment cannot be a super-packet
		}
		proto, g.l4Off = pkt[9], ihl
		g.ipID = binary.BigEndian.Uint16(pkt[4:])
		// Segments differ from this header only in length and ID, so
		// their checksums start from one sum of the rest (RFC 1624).
		g.ipSum = sum16(pkt[12:ihl], sum16(pkt[6:10], sum16(pkt[0:2], 0)))
		if typ == gsoTCPv6 {
			return g, errBadGSO
		}
	case 6:
		if len(pkt) < 40 {
			return g, errShortPacket
		}
		g.v6 = true
		proto, g.l4Off = pkt[6], 40
		if typ == gsoTCPv4 {
			return g, errBadGSO
		}
		// Extension headers: the kernel says where the transport header
		// starts; the header chain itself is copied unchanged.
		if cs := int(h.csumStart); cs > 40 && cs < len(pkt) {
			g.l4Off = cs
			proto = 0
		}
	default:
		return g, errBadGSO
	}
	switch typ {
	case gsoTCPv4, gsoTCPv6:
		if proto != unix.IPPROTO_TCP && proto != 0 {
			return g, errBadGSO
		}
		if len(pkt) < g.l4Off+20 {
			return g, errShortPacket
		}
		thl := int(pkt[g.l4Off+12]>>4) * 4
		if thl < 20 {
			return g, errBadGSO
		}
		g.hdrLen = g.l4Off + thl
		g.tcpSeq = binary.BigEndian.Uint32(pkt[g.l4Off+4:])
		g.tcpFlag = pkt[g.l4Off+13]
	case gsoUDPL4:
		if proto != unix.IPPROTO_UDP && proto != 0 {
			return g, errBadGSO
		}
		g.udp = true
		g.hdrLen = g.l4Off + 8
	default:
		return g, errBadGSO
	}
	if len(pkt) < g.hdrLen || h.gsoSize == 0 {
		return g, errShortPacket
	}
	g.gsoSize = int(h.gsoSize)
	payload := len(pkt) - g.hdrLen
	g.segs = max(1, (payload+g.gsoSize-1)/g.gsoSize)
	return g, nil
}

// splitGSO writes segments first, first+1, ... of the super-packet pkt into
// out[k][offset:] and their lengths into sizes[k], as many as out holds, and
// returns how many it wrote. out[0][offset:] may be pkt itself (the packet
// was read in place): segment first is then written last, after every
// other segment has copied the original headers.
func splitGSO(pkt []byte, g *gsoPacket, first int, out [][]byte, sizes []int, offset int) (int, error) {
	n := min(g.segs-first, len(out), len(sizes))
	for k := n - 1; k >= 0; k-- {
		i := first + k
		start := g.hdrLen + i*g.gsoSize
		end := min(start+g.gsoSize, len(pkt))
		if offset < 0 || offset > len(out[k]) {
			return 0, ErrBadOffset
		}
		dst := out[k][offset:]
		segLen := g.hdrLen + end - start
		if len(dst) < segLen {
			return 0, errSegmentRoom
		}
		copy(dst, pkt[:g.hdrLen])
		copy(dst[g.hdrLen:], pkt[start:end])
		dst = dst[:segLen]
		fixSegment(dst, g, i)
		sizes[k] = segLen
	}
	return n, nil
}

// fixSegment rewrites the copied headers of segment i (the IP length and
// ID, the TCP sequence number and flags or the UDP length) and computes its
// checksums from scratch.
func fixSegment(seg []byte, g *gsoPacket, i int) {
	l4Len := len(seg) - g.l4Off
	var src, dst []byte
	if g.v6 {
		binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)-40))
		src, dst = seg[8:24], seg[24:40]
	} else {
		// The kernel's GSO numbers the segments' IDs consecutively.
		id := g.ipID + uint16(i)
		binary.BigEndian.PutUint16(seg[2:], uint16(len(seg)))
		binary.BigEndian.PutUint16(seg[4:], id)
		binary.BigEndian.PutUint16(seg[10:], ^add16(add16(g.ipSum, uint16(len(seg))), id))
		src, dst = seg[12:16], seg[16:20]
	}
	l4 := seg[g.l4Off:]
	if g.udp {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4Len))
		l4[udpCsumOff], l4[udpCsumOff+1] = 0, 0
		c := ^sum16(l4, pseudoSum(src, dst, unix.IPPROTO_UDP, l4Len))
		if c == 0 {
			c = 0xffff // 0 means "no checksum" in UDP (RFC 768)
		}
		binary.BigEndian.PutUint16(l4[udpCsumOff:], c)
		return
	}
	binary.BigEndian.PutUint32(l4[4:], g.tcpSeq+uint32(i*g.gsoSize))
	flags := g.tcpFlag
	if i != g.segs-1 {
		flags &^= tcpFIN | tcpPSH // only the last segment ends the burst
	}
	if i != 0 {
		flags &^= tcpCWR // congestion window reduced is said once
	}
	l4[13] = flags
	l4[tcpCsumOff], l4[tcpCsumOff+1] = 0, 0
	binary.BigEndian.PutUint16(l4[tcpCsumOff:], ^sum16(l4, pseudoSum(src, dst, unix.IPPROTO_TCP, l4Len)))
}

// finishChecksum completes a checksum the kernel left partial (NEEDS_CSUM
// without GSO): the field already holds the pseudo-header sum, so the sum
// from csumStart to the end, complemented, is the checksum.
func finishChecksum(pkt []byte, h *vnetHdr) error {
	start, at := int(h.csumStart), int(h.csumStart)+int(h.csumOffset)
	if start >= len(pkt) || at+2 > len(pkt) {
		return errBadCsumOffset
	}
	c := ^sum16(pkt[start:], 0)
	// For UDP a computed zero is sent as all ones (RFC 768); for TCP the
	// two are the same value in ones' complement, so this is always safe.
	if c == 0 && h.csumOffset == udpCsumOff {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(pkt[at:], c)
	return nil
}
