// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzSplitGSO feeds arbitrary virtio headers and packets to the read-side
// parser: nothing may panic, and every segment it produces must be a
// consistent IP packet with correct checksums. The input is the 10-byte
// virtio header followed by the packet.
func FuzzSplitGSO(f *testing.F) {
	for _, s := range splitSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < vnetHdrLen {
			return
		}
		var h vnetHdr
		h.decode(data)
		pkt := data[vnetHdrLen:]
		if h.gsoType == gsoNone {
			if h.flags&flagNeedsCsum != 0 {
				_ = finishChecksum(pkt, &h)
			}
			return
		}
		g, err := parseGSO(pkt, &h)
		if err != nil {
			return
		}
		if g.segs < 1 || g.hdrLen > len(pkt) || g.l4Off >= g.hdrLen {
			t.Fatalf("parseGSO accepted %+v for a %d-byte packet", g, len(pkt))
		}
		const offset = 16
		bufs, sizes := makeBufs(min(g.segs, 8), offset+g.hdrLen+g.gsoSize)
		for first := 0; first < g.segs; {
			n, err := splitGSO(pkt, &g, first, bufs, sizes, offset)
			if err != nil {
				return
			}
			if n == 0 {
				t.Fatal("splitGSO made no progress")
			}
			for k := range n {
				seg := bufs[k][offset : offset+sizes[k]]
				if len(seg) > 65535+40 {
					t.Fatalf("segment of %d bytes", len(seg))
				}
				// The IP and transport headers of a segment are the
				// super-packet's, so lengths and checksums must be right
				// whatever the rest of the headers hold.
				if g.v6 {
					if int(binary.BigEndian.Uint16(seg[4:]))+40 != len(seg) {
						t.Fatal("IPv6 payload length wrong")
					}
				} else {
					if refSum(seg[:g.l4Off], 0) != 0xffff || int(binary.BigEndian.Uint16(seg[2:])) != len(seg) {
						t.Fatal("IPv4 header checksum or length wrong")
					}
				}
				var ps uint16
				l4 := seg[g.l4Off:]
				proto := uint16(6)
				if g.udp {
					proto = 17
				}
				if g.v6 {
					ps = refSum(seg[24:40], refSum(seg[8:24], 0))
				} else {
					ps = refSum(seg[16:20], refSum(seg[12:16], 0))
				}
				ps = add16(add16(ps, proto), uint16(len(l4)))
				if !sameSum(refSum(l4, ps), 0xffff) {
					t.Fatalf("segment %d: bad transport checksum", first+k)
				}
			}
			first += n
		}
	})
}

// FuzzCoalesce feeds arbitrary batches to the write-side coalescer: nothing
// may panic, the caller's buffers stay untouched, every merged packet must
// parse as a GSO packet and segment back into exactly the packets that went
// in (but for IPv4 IDs, and the urgent pointer of TCP segments without URG,
// see sameSegment), in the order of each flow. The input is a list of
// packets, each prefixed by its length as a big-endian uint16.
func FuzzCoalesce(f *testing.F) {
	for _, s := range coalesceSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var pkts [][]byte
		for len(data) >= 2 && len(pkts) < 128 {
			n := int(binary.BigEndian.Uint16(data))
			data = data[2:]
			n = min(n, len(data))
			pkts = append(pkts, data[:n])
			data = data[n:]
		}
		out := coalesceAll(t, true, true, pkts, 16)
		var again [][]byte
		total := 0
		for _, w := range out {
			segs := resplit(t, w)
			if len(segs) != w.n {
				t.Fatalf("a packet of %d merged segments splits into %d", w.n, len(segs))
			}
			again = append(again, segs...)
			total += w.n
		}
		if total != len(pkts) {
			t.Fatalf("%d packets in, %d out", len(pkts), total)
		}
		used := make([]bool, len(pkts))
		for _, o := range again {
			found := false
			for i, p := range pkts {
				if !used[i] && sameSegment(o, p) {
					used[i], found = true, true
					break
				}
			}
			if !found {
				t.Fatalf("written packet matches no input")
			}
		}
	})
}

// sameSegment reports whether o, a segment written for input packet p,
// carries what p carried. Beyond sameExceptID it allows one difference: in
// a TCP segment without URG the urgent pointer means nothing (RFC 9293,
// 3.1), so the kernel's GRO does not compare it and gives every segment of a
// merge the first one's; the transport checksum then differs with it, so o
// must carry a valid checksum of its own instead.
func sameSegment(o, p []byte) bool {
	if sameExceptID(o, p) {
		return true
	}
	l4Off, ok := tcpOffset(o)
	if !ok || len(o) != len(p) || len(o) < l4Off+20 {
		return false
	}
	if pOff, ok := tcpOffset(p); !ok || pOff != l4Off || o[l4Off+13]&tcpURG != 0 || p[l4Off+13]&tcpURG != 0 {
		return false
	}
	var ps uint16
	if l4Off == 40 {
		ps = refSum(o[24:40], refSum(o[8:24], 0))
	} else {
		ps = refSum(o[16:20], refSum(o[12:16], 0))
	}
	ps = add16(add16(ps, 6), uint16(len(o)-l4Off))
	if !sameSum(refSum(o[l4Off:], ps), 0xffff) {
		return false
	}
	o, p = bytes.Clone(o), bytes.Clone(p)
	for _, i := range []int{16, 17, 18, 19} { // checksum, urgent pointer
		o[l4Off+i], p[l4Off+i] = 0, 0
	}
	return sameExceptID(o, p)
}

// tcpOffset returns where the TCP header of an IPv4 or IPv6 packet starts.
func tcpOffset(pkt []byte) (int, bool) {
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4 && pkt[9] == 6:
		return int(pkt[0]&0xf) * 4, true
	case len(pkt) >= 40 && pkt[0]>>4 == 6 && pkt[6] == 6:
		return 40, true
	}
	return 0, false
}

func splitSeeds() [][]byte {
	var seeds [][]byte
	add := func(pkt []byte, h vnetHdr) {
		b := make([]byte, vnetHdrLen, vnetHdrLen+len(pkt))
		h.encode(b)
		seeds = append(seeds, append(b, pkt...))
	}
	udp4, udp6 := v4flow(), v6flow()
	udp4.udp, udp6.udp = true, true
	opts := v4flow()
	opts.ipOpts = []byte{1, 1, 1, 0}
	for _, c := range []struct {
		f     flow
		n     int
		gso   int
		flags uint8
	}{
		{v4flow(), 5000, 1368, tcpACK | tcpPSH},
		{v6flow(), 4000, 1348, tcpACK | tcpFIN | tcpCWR},
		{udp4, 3000, 1392, 0},
		{udp6, 2000, 1372, 0},
		{opts, 2737, 1368, tcpACK},
	} {
		add(superPacket(c.f, c.flags, payloadOf(c.n, 1), c.gso))
	}
	p := v4flow()
	p.partialSum = true
	add(p.build(1, tcpACK, 1, payloadOf(100, 2)), vnetHdr{flags: flagNeedsCsum, csumStart: 20, csumOffset: tcpCsumOff})
	return seeds
}

func coalesceSeeds() [][]byte {
	enc := func(pkts ...[]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
			b = append(b, p...)
		}
		return b
	}
	f4, f6 := v4flow(), v6flow()
	u4 := v4flow()
	u4.udp = true
	return [][]byte{
		enc(f4.build(0, tcpACK, 1, payloadOf(100, 0)), f4.build(100, tcpACK, 2, payloadOf(100, 0)), f4.build(200, tcpACK|tcpPSH, 3, payloadOf(40, 0))),
		enc(f6.build(0, tcpACK, 0, payloadOf(100, 0)), f6.build(100, tcpACK, 0, payloadOf(100, 0)), f4.build(0, tcpACK, 1, payloadOf(100, 0))),
		enc(u4.build(0, 0, 1, payloadOf(50, 0)), u4.build(0, 0, 2, payloadOf(50, 0)), u4.build(0, 0, 3, payloadOf(20, 0))),
		enc(f4.build(0, tcpSYN, 1, nil), []byte{0x45, 0}, nil),
	}
}
