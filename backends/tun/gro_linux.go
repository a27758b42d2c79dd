// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Write-side coalescing ("GRO"): consecutive TCP segments of one flow, or
// equal-sized UDP datagrams of one flow, from a batch the engine decrypted
// are merged into one super-packet and written with a virtio header that
// asks the kernel to treat it as a GSO packet. The kernel's TCP stack then
// sees one large segment instead of dozens, which is most of the receive
// cost. The rules are those of the kernel's own GRO (net/ipv4/tcp_offload.c,
// udp_offload.c): only what the kernel could have produced by segmenting the
// result is merged, so nothing observable changes but the packet count.
//
// Every packet merged must carry a valid checksum: the merged packet gets a
// fresh partial checksum, which would otherwise launder a corrupted segment.

// maxUDPSegments bounds a coalesced UDP packet like the kernel's
// UDP_MAX_SEGMENTS does for a GSO send; maxMergeSegs bounds any merge (64
// KiB of TCP at the smallest sensible MSS), which also bounds the iovecs of
// its write.
const (
	maxUDPSegments = 64
	maxMergeSegs   = 128
)

// flowKey identifies a TCP or UDP flow in a batch.
type flowKey struct {
	src, dst     [16]byte
	sport, dport uint16
	v6           bool
	proto        uint8
}

// groItem is one packet to write: a plain packet or the head of a merged
// one. The merged packet is never assembled in memory: it is written with
// writev as the head's headers (rewritten in a scratch buffer) followed by
// the payload of every member, so the caller's buffers stay untouched.
type groItem struct {
	idx     int // index in the batch of the first packet
	last    int // index of the last member; members chain through groTable.next
	length  int // length of the merged packet
	segs    int // how many packets it holds
	gsoSize int // payload length of the first segment
	lastLen int // payload length of the last segment
	l4Off   int // start of the transport header
	hdrLen  int // start of the payload
	nextSeq uint32
	key     flowKey
	open    bool // may still take segments
	udp     bool
	psh     bool // the last member carries PSH
}

// groTable is the per-Write state, pooled in the Device to avoid allocating.
type groTable struct {
	items []groItem
	next  []int // next[i]: the member after packet i in its item, or -1
	tcp   bool
	udp   bool
}

// pktInfo is what classifying one packet finds out.
type pktInfo struct {
	key       flowKey
	l4Off     int
	hdrLen    int
	payload   int
	candidate bool // may be merged (or start a merge)
	flow      bool // key is meaningful (a TCP or UDP packet)
}

// classify parses pkt far enough to decide whether it may be coalesced.
func (t *groTable) classify(pkt []byte) pktInfo {
	var pi pktInfo
	if len(pkt) < 20 {
		return pi
	}
	var proto uint8
	switch pkt[0] >> 4 {
	case 4:
		// IP options and fragments are left alone: both are rare and
		// neither can be part of a GSO packet the kernel would build.
		if pkt[0]&0x0f != 5 || int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
			return pi
		}
		proto = pkt[9]
		pi.l4Off = 20
		copy(pi.key.src[:], pkt[12:16])
		copy(pi.key.dst[:], pkt[16:20])
		if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 || ipv4HeaderChecksum(pkt[:20]) != binary.BigEndian.Uint16(pkt[10:]) {
			return pi
		}
	case 6:
		if len(pkt) < 40 || int(binary.BigEndian.Uint16(pkt[4:]))+40 != len(pkt) {
			return pi
		}
		proto = pkt[6]
		pi.l4Off = 40
		pi.key.v6 = true
		copy(pi.key.src[:], pkt[8:24])
		copy(pi.key.dst[:], pkt[24:40])
	default:
		return pi
	}
	pi.key.proto = proto
	l4 := pkt[pi.l4Off:]
	switch proto {
	case unix.IPPROTO_TCP:
		if len(l4) < 20 {
			return pi
		}
		thl := int(l4[12]>>4) * 4
		if thl < 20 || len(l4) < thl {
			return pi
		}
		pi.key.sport = binary.BigEndian.Uint16(l4[0:])
		pi.key.dport = binary.BigEndian.Uint16(l4[2:])
		pi.flow = true
		pi.hdrLen = pi.l4Off + thl
		pi.payload = len(pkt) - pi.hdrLen
		if !t.tcp || pi.payload == 0 || l4[13]&(tcpFIN|tcpSYN|tcpRST|tcpURG|tcpCWR) != 0 || l4[13]&tcpACK == 0 {
			return pi
		}
	case unix.IPPROTO_UDP:
		if len(l4) < 8 {
			return pi
		}
		pi.key.sport = binary.BigEndian.Uint16(l4[0:])
		pi.key.dport = binary.BigEndian.Uint16(l4[2:])
		pi.flow = true
		pi.hdrLen = pi.l4Off + 8
		pi.payload = len(pkt) - pi.hdrLen
		if !t.udp || pi.payload == 0 || int(binary.BigEndian.Uint16(l4[4:])) != len(l4) {
			return pi
		}
		if binary.BigEndian.Uint16(l4[udpCsumOff:]) == 0 {
			// No checksum (allowed in IPv4). The kernel does not merge
			// such datagrams either: segmenting the merged packet would
			// give every datagram a checksum it was sent without.
			return pi
		}
	default:
		return pi
	}
	src, dst := pi.key.src[:4], pi.key.dst[:4]
	if pi.key.v6 {
		src, dst = pi.key.src[:], pi.key.dst[:]
	}
	pi.candidate = sum16(l4, pseudoSum(src, dst, proto, len(l4))) == 0xffff
	return pi
}

// coalesce decides what to write for the packets bufs[i][offset:]: it
// leaves t.items listing the packets (merged or plain) to write, in an
// order that keeps every flow's packets in sequence.
func (t *groTable) coalesce(bufs [][]byte, offset int) {
	t.items = t.items[:0]
	if cap(t.next) < len(bufs) {
		t.next = make([]int, len(bufs))
	}
	t.next = t.next[:len(bufs)]
	for i, b := range bufs {
		t.next[i] = -1
		pkt := b[offset:]
		pi := t.classify(pkt)
		if pi.flow {
			if g := t.openItem(&pi.key); g != nil {
				if pi.candidate && t.appendTo(g, bufs, offset, i, &pi) {
					continue
				}
				// Out of order, a flag, a size change: the flow's
				// earlier packets go first and the merge ends here.
				g.open = false
			}
		}
		it := groItem{idx: i, last: i, length: len(pkt), segs: 1}
		if pi.candidate {
			it.open = true
			it.key = pi.key
			it.udp = pi.key.proto == unix.IPPROTO_UDP
			it.l4Off, it.hdrLen = pi.l4Off, pi.hdrLen
			it.gsoSize, it.lastLen = pi.payload, pi.payload
			if !it.udp {
				it.nextSeq = binary.BigEndian.Uint32(pkt[pi.l4Off+4:]) + uint32(pi.payload)
				if pkt[pi.l4Off+13]&tcpPSH != 0 {
					it.open = false // a push ends a merge, as in the kernel
				}
			}
		}
		t.items = append(t.items, it)
	}
}

// openItem returns the item still open for merges of flow k, if any. A batch
// holds few flows, so a linear scan from the end is cheapest.
func (t *groTable) openItem(k *flowKey) *groItem {
	for j := len(t.items) - 1; j >= 0; j-- {
		if g := &t.items[j]; g.open && g.key == *k {
			return g
		}
	}
	return nil
}

// appendTo merges packet i into g if the kernel would have: contiguous,
// the same headers except lengths, IDs, checksums and a final push, and no
// segment larger than the first nor after a smaller one.
func (t *groTable) appendTo(g *groItem, bufs [][]byte, offset, i int, pi *pktInfo) bool {
	if pi.hdrLen != g.hdrLen || pi.payload > g.gsoSize || g.lastLen != g.gsoSize {
		return false
	}
	limit := maxIPPacket
	if pi.key.v6 {
		limit += 40
	}
	if g.length+pi.payload > limit || g.segs >= maxMergeSegs {
		return false
	}
	pkt := bufs[i][offset:]
	h := bufs[g.idx][offset:][:g.hdrLen]
	if pi.key.v6 {
		// Version, traffic class, flow label; hop limit.
		if !bytes.Equal(h[0:4], pkt[0:4]) || h[7] != pkt[7] {
			return false
		}
	} else {
		// TOS; DF; TTL. Lengths, IDs and checksums may differ.
		if h[1] != pkt[1] || h[6] != pkt[6] || h[8] != pkt[8] {
			return false
		}
	}
	l4, hl4 := pkt[g.l4Off:pi.hdrLen], h[g.l4Off:]
	psh := false
	if g.udp {
		if g.segs >= maxUDPSegments {
			return false
		}
	} else {
		if binary.BigEndian.Uint32(l4[4:]) != g.nextSeq {
			return false
		}
		// Acknowledgment number, data offset, flags but PSH, window; then
		// the options, which must match byte for byte (timestamps too).
		if !bytes.Equal(l4[8:13], hl4[8:13]) || l4[13]&^tcpPSH != hl4[13] ||
			!bytes.Equal(l4[14:16], hl4[14:16]) || !bytes.Equal(l4[20:], hl4[20:]) {
			return false
		}
		psh = l4[13]&tcpPSH != 0
	}
	t.next[g.last] = i
	g.last = i
	g.length += pi.payload
	g.lastLen = pi.payload
	g.segs++
	if !g.udp {
		g.nextSeq += uint32(pi.payload)
		if psh {
			g.psh = true
			g.open = false
		}
	}
	return true
}

// finish writes into hdr the virtio header and the rewritten headers of a
// merged item (its new lengths, and a partial checksum for the kernel to
// complete) and returns them; head is the first member's packet. A plain
// item gets an all-zero virtio header alone.
func (g *groItem) finish(head, hdr []byte) []byte {
	var h vnetHdr
	if g.segs < 2 {
		h.encode(hdr)
		return hdr[:vnetHdrLen]
	}
	out := hdr[vnetHdrLen : vnetHdrLen+g.hdrLen]
	copy(out, head[:g.hdrLen])
	l4Len := g.length - g.l4Off
	var src, dst []byte
	if g.key.v6 {
		binary.BigEndian.PutUint16(out[4:], uint16(l4Len))
		src, dst = out[8:24], out[24:40]
	} else {
		binary.BigEndian.PutUint16(out[2:], uint16(g.length))
		binary.BigEndian.PutUint16(out[10:], ipv4HeaderChecksum(out[:20]))
		src, dst = out[12:16], out[16:20]
	}
	h.flags = flagNeedsCsum
	h.hdrLen = uint16(g.hdrLen)
	h.gsoSize = uint16(g.gsoSize)
	h.csumStart = uint16(g.l4Off)
	l4 := out[g.l4Off:]
	if g.udp {
		binary.BigEndian.PutUint16(l4[4:], uint16(l4Len))
		h.gsoType = gsoUDPL4
		h.csumOffset = udpCsumOff
		binary.BigEndian.PutUint16(l4[udpCsumOff:], pseudoSum(src, dst, unix.IPPROTO_UDP, l4Len))
	} else {
		h.gsoType = gsoTCPv4
		if g.key.v6 {
			h.gsoType = gsoTCPv6
		}
		if g.psh {
			l4[13] |= tcpPSH
		}
		h.csumOffset = tcpCsumOff
		binary.BigEndian.PutUint16(l4[tcpCsumOff:], pseudoSum(src, dst, unix.IPPROTO_TCP, l4Len))
	}
	h.encode(hdr)
	return hdr[:vnetHdrLen+g.hdrLen]
}

// maxHdrScratch holds a virtio header and the largest IP + TCP headers a
// merged packet can have (no IPv4 options are merged; IPv6 has no extension
// headers here; TCP up to 60 bytes).
const maxHdrScratch = vnetHdrLen + 40 + 60
