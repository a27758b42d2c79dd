// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// Tests of the offload code that need no TUN device: the checksum against a
// word-by-word reference, splitting super-packets, coalescing segments and
// the round trip between the two.

// refSum is the textbook RFC 1071 sum: 16-bit big-endian words, the odd
// last byte padded with zero, carries folded at the end.
func refSum(b []byte, initial uint16) uint16 {
	sum := uint64(initial)
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint64(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint64(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// sameSum compares ones' complement sums, in which 0 and 0xffff are both
// zero.
func sameSum(a, b uint16) bool {
	return a == b || (a == 0 || a == 0xffff) && (b == 0 || b == 0xffff)
}

func TestSum16Reference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 31, 32, 33, 63, 64, 65, 1419, 1420, 65535} {
		for range 20 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			init := uint16(rng.Uint32())
			if got, want := sum16(b, init), refSum(b, init); !sameSum(got, want) {
				t.Fatalf("len %d: sum16 = %#04x, reference %#04x", n, got, want)
			}
		}
	}
	// All ones is where a wide accumulator wraps most often.
	b := bytes.Repeat([]byte{0xff}, 4096)
	if got, want := sum16(b, 0xffff), refSum(b, 0xffff); !sameSum(got, want) {
		t.Fatalf("all ones: sum16 = %#04x, reference %#04x", got, want)
	}
}

// flow describes the packets the helpers build.
type flow struct {
	v6         bool
	udp        bool
	opts       []byte // TCP options, a multiple of 4 bytes
	ipOpts     []byte // IPv4 options, a multiple of 4 bytes
	sport      uint16
	ack        uint32
	window     uint16
	ttl        uint8
	src, dst   []byte
	badL4Csum  bool
	partialSum bool // leave the pseudo-header sum, as the kernel does with NEEDS_CSUM
}

func v4flow() flow {
	return flow{sport: 40000, ack: 7, window: 500, ttl: 64,
		src: []byte{10, 0, 0, 1}, dst: []byte{10, 0, 0, 2},
		opts: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}} // NOP NOP timestamps
}

func v6flow() flow {
	f := v4flow()
	f.v6 = true
	f.src = bytes.Repeat([]byte{0xfd, 1}, 8)
	f.dst = bytes.Repeat([]byte{0xfd, 2}, 8)
	return f
}

// build returns an IP packet of the flow with a valid IP header and, unless
// asked otherwise, a valid transport checksum.
func (f flow) build(seq uint32, flags uint8, id uint16, payload []byte) []byte {
	var l4 []byte
	if f.udp {
		l4 = make([]byte, 8, 8+len(payload))
		binary.BigEndian.PutUint16(l4[0:], f.sport)
		binary.BigEndian.PutUint16(l4[2:], 53)
		binary.BigEndian.PutUint16(l4[4:], uint16(8+len(payload)))
	} else {
		l4 = make([]byte, 20+len(f.opts), 20+len(f.opts)+len(payload))
		binary.BigEndian.PutUint16(l4[0:], f.sport)
		binary.BigEndian.PutUint16(l4[2:], 443)
		binary.BigEndian.PutUint32(l4[4:], seq)
		binary.BigEndian.PutUint32(l4[8:], f.ack)
		l4[12] = byte(len(l4)/4) << 4
		l4[13] = flags
		binary.BigEndian.PutUint16(l4[14:], f.window)
		copy(l4[20:], f.opts)
	}
	l4 = append(l4, payload...)
	var ip []byte
	proto := uint8(unix.IPPROTO_TCP)
	if f.udp {
		proto = unix.IPPROTO_UDP
	}
	if f.v6 {
		ip = make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6] = proto
		ip[7] = f.ttl
		copy(ip[8:], f.src)
		copy(ip[24:], f.dst)
	} else {
		ip = make([]byte, 20+len(f.ipOpts))
		ip[0] = 0x40 | byte(len(ip)/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], id)
		ip[6] = 0x40 // DF
		ip[8] = f.ttl
		ip[9] = proto
		copy(ip[12:], f.src)
		copy(ip[16:], f.dst)
		copy(ip[20:], f.ipOpts)
		binary.BigEndian.PutUint16(ip[10:], ^refSum(ip, 0))
	}
	csumAt := tcpCsumOff
	if f.udp {
		csumAt = udpCsumOff
	}
	ps := refSum(f.dst, refSum(f.src, 0))
	ps = add16(add16(ps, uint16(proto)), uint16(len(l4)))
	if f.partialSum {
		binary.BigEndian.PutUint16(l4[csumAt:], ps)
	} else {
		c := ^refSum(l4, ps)
		if f.udp && c == 0 {
			c = 0xffff
		}
		if f.badL4Csum {
			c ^= 0x5a5a
		}
		binary.BigEndian.PutUint16(l4[csumAt:], c)
	}
	return append(ip, l4...)
}

// checkPacket verifies the IP header checksum and length and the transport
// checksum of pkt with the reference sum.
func checkPacket(t testing.TB, pkt []byte) {
	t.Helper()
	var l4 []byte
	var ps uint16
	if pkt[0]>>4 == 4 {
		ihl := int(pkt[0]&0xf) * 4
		if refSum(pkt[:ihl], 0) != 0xffff {
			t.Fatalf("bad IPv4 header checksum in % x", pkt[:ihl])
		}
		if int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
			t.Fatalf("IPv4 total length %d, packet %d", binary.BigEndian.Uint16(pkt[2:]), len(pkt))
		}
		l4 = pkt[ihl:]
		ps = refSum(pkt[16:20], refSum(pkt[12:16], 0))
		ps = add16(add16(ps, uint16(pkt[9])), uint16(len(l4)))
	} else {
		if int(binary.BigEndian.Uint16(pkt[4:]))+40 != len(pkt) {
			t.Fatalf("IPv6 payload length %d, packet %d", binary.BigEndian.Uint16(pkt[4:]), len(pkt))
		}
		l4 = pkt[40:]
		ps = refSum(pkt[24:40], refSum(pkt[8:24], 0))
		ps = add16(add16(ps, uint16(pkt[6])), uint16(len(l4)))
	}
	if !sameSum(refSum(l4, ps), 0xffff) {
		t.Fatalf("bad transport checksum (len %d)", len(l4))
	}
}

func payloadOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// superPacket builds what the kernel hands over with TSO/USO: the headers of
// the first segment, the whole payload, a partial checksum.
func superPacket(f flow, flags uint8, payload []byte, gsoSize int) ([]byte, vnetHdr) {
	f.partialSum = true
	pkt := f.build(1000, flags, 77, payload)
	if f.v6 {
		binary.BigEndian.PutUint16(pkt[4:], 0) // the kernel may leave lengths stale
	}
	l4 := 20 + len(f.ipOpts)
	typ := uint8(gsoTCPv4)
	hdrLen := l4 + 20 + len(f.opts)
	csumOff := uint16(tcpCsumOff)
	if f.v6 {
		l4 = 40
		typ = gsoTCPv6
		hdrLen = 40 + 20 + len(f.opts)
	}
	if f.udp {
		typ, hdrLen, csumOff = gsoUDPL4, l4+8, udpCsumOff
	}
	return pkt, vnetHdr{flags: flagNeedsCsum, gsoType: typ, hdrLen: uint16(hdrLen),
		gsoSize: uint16(gsoSize), csumStart: uint16(l4), csumOffset: csumOff}
}

func makeBufs(n, size int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs, make([]int, n)
}

func TestSplitGSO(t *testing.T) {
	const offset = 16
	for _, tc := range []struct {
		name    string
		f       flow
		payload int
		gso     int
		flags   uint8
	}{
		{"v4 even", v4flow(), 4 * 1000, 1000, tcpACK | tcpPSH},
		{"v4 tiny last", v4flow(), 3*1368 + 1, 1368, tcpACK | tcpPSH | tcpFIN | tcpCWR},
		{"v4 one segment", v4flow(), 500, 1368, tcpACK},
		{"v4 ip options", func() flow { f := v4flow(); f.ipOpts = []byte{1, 1, 1, 0}; return f }(), 5000, 1200, tcpACK},
		{"v6", v6flow(), 65535 - 40 - 32, 1348, tcpACK | tcpPSH},
		{"v4 udp", func() flow { f := v4flow(); f.udp = true; return f }(), 10*1392 + 5, 1392, 0},
		{"v6 udp", func() flow { f := v6flow(); f.udp = true; return f }(), 3 * 1372, 1372, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := payloadOf(tc.payload, 3)
			pkt, h := superPacket(tc.f, tc.flags, payload, tc.gso)
			g, err := parseGSO(pkt, &h)
			if err != nil {
				t.Fatal(err)
			}
			want := (tc.payload + tc.gso - 1) / tc.gso
			if g.segs != want {
				t.Fatalf("segs = %d, want %d", g.segs, want)
			}
			bufs, sizes := makeBufs(want, offset+2000)
			n, err := splitGSO(pkt, &g, 0, bufs, sizes, offset)
			if err != nil || n != want {
				t.Fatalf("splitGSO = %d, %v", n, err)
			}
			var joined []byte
			for i := range n {
				seg := bufs[i][offset : offset+sizes[i]]
				checkPacket(t, seg)
				joined = append(joined, seg[g.hdrLen:]...)
				if !tc.f.v6 {
					if id := binary.BigEndian.Uint16(seg[4:]); id != 77+uint16(i) {
						t.Errorf("segment %d: IP ID %d", i, id)
					}
				}
				if tc.f.udp {
					continue
				}
				l4 := seg[g.l4Off:]
				if seq := binary.BigEndian.Uint32(l4[4:]); seq != 1000+uint32(i*tc.gso) {
					t.Errorf("segment %d: seq %d", i, seq)
				}
				fl := tc.flags
				if i != n-1 {
					fl &^= tcpPSH | tcpFIN
				}
				if i != 0 {
					fl &^= tcpCWR
				}
				if l4[13] != fl {
					t.Errorf("segment %d: flags %#x, want %#x", i, l4[13], fl)
				}
			}
			if !bytes.Equal(joined, payload) {
				t.Fatal("payloads do not add up to the super-packet's")
			}
		})
	}
}

// TestSplitInPlace splits a super-packet that sits in the first output
// buffer, as Read does, and in pieces, as successive Reads do.
func TestSplitInPlace(t *testing.T) {
	const offset = 16
	payload := payloadOf(20000, 9)
	pkt, h := superPacket(v4flow(), tcpACK, payload, 1400)
	g, err := parseGSO(pkt, &h)
	if err != nil {
		t.Fatal(err)
	}
	ref, refSizes := makeBufs(g.segs, offset+1500)
	if _, err := splitGSO(pkt, &g, 0, ref, refSizes, offset); err != nil {
		t.Fatal(err)
	}
	bufs, sizes := makeBufs(g.segs, offset+70000)
	copy(bufs[0][offset:], pkt)
	inPlace := bufs[0][offset : offset+len(pkt)]
	if _, err := splitGSO(inPlace, &g, 0, bufs, sizes, offset); err != nil {
		t.Fatal(err)
	}
	for i := range g.segs {
		if !bytes.Equal(bufs[i][offset:offset+sizes[i]], ref[i][offset:offset+refSizes[i]]) {
			t.Fatalf("in-place segment %d differs", i)
		}
	}
	// Three at a time.
	for first := 0; first < g.segs; {
		b, s := makeBufs(3, offset+1500)
		n, err := splitGSO(pkt, &g, first, b, s, offset)
		if err != nil || n == 0 {
			t.Fatalf("splitGSO from %d = %d, %v", first, n, err)
		}
		for k := range n {
			if !bytes.Equal(b[k][offset:offset+s[k]], ref[first+k][offset:offset+refSizes[first+k]]) {
				t.Fatalf("segment %d differs when split from %d", first+k, first)
			}
		}
		first += n
	}
	// A buffer too small for a segment is an error, not a panic.
	b, s := makeBufs(g.segs, offset+100)
	if _, err := splitGSO(pkt, &g, 0, b, s, offset); err == nil {
		t.Fatal("splitGSO into small buffers succeeded")
	}
}

func TestParseGSORejects(t *testing.T) {
	good, h := superPacket(v4flow(), tcpACK, payloadOf(3000, 1), 1000)
	for _, tc := range []struct {
		name string
		pkt  []byte
		h    vnetHdr
	}{
		{"short", good[:19], h},
		{"v6 type on v4", good, func() vnetHdr { x := h; x.gsoType = gsoTCPv6; return x }()},
		{"udp type on tcp", good, func() vnetHdr { x := h; x.gsoType = gsoUDPL4; return x }()},
		{"zero gso size", good, func() vnetHdr { x := h; x.gsoSize = 0; return x }()},
		{"legacy UFO", good, func() vnetHdr { x := h; x.gsoType = unix.VIRTIO_NET_HDR_GSO_UDP; return x }()},
		{"bad version", append([]byte{0x75}, good[1:]...), h},
		{"fragment", func() []byte { p := bytes.Clone(good); p[6] |= 0x20; return p }(), h},
		{"truncated tcp", good[:30], h},
	} {
		if _, err := parseGSO(tc.pkt, &tc.h); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestFinishChecksum(t *testing.T) {
	for _, f := range []flow{v4flow(), v6flow(), func() flow { f := v4flow(); f.udp = true; return f }()} {
		f.partialSum = true
		pkt := f.build(5, tcpACK, 1, payloadOf(333, 2))
		l4 := 20
		if f.v6 {
			l4 = 40
		}
		off := uint16(tcpCsumOff)
		if f.udp {
			off = udpCsumOff
		}
		h := vnetHdr{flags: flagNeedsCsum, csumStart: uint16(l4), csumOffset: off}
		if err := finishChecksum(pkt, &h); err != nil {
			t.Fatal(err)
		}
		checkPacket(t, pkt)
	}
	h := vnetHdr{flags: flagNeedsCsum, csumStart: 60, csumOffset: 16}
	if finishChecksum(make([]byte, 70), &h) == nil {
		t.Fatal("checksum offset past the end accepted")
	}
}

// written is one packet as coalesce + finish would hand it to writev.
type written struct {
	hdr vnetHdr
	pkt []byte
	n   int // packets merged
}

// coalesceAll runs the write side of the device without a device.
func coalesceAll(t testing.TB, tcp, udp bool, pkts [][]byte, offset int) []written {
	t.Helper()
	bufs := make([][]byte, len(pkts))
	orig := make([][]byte, len(pkts))
	for i, p := range pkts {
		bufs[i] = append(make([]byte, offset), p...)
		orig[i] = bytes.Clone(bufs[i])
	}
	w := newVnetWriterForTest(tcp, udp)
	w.gro.coalesce(bufs, offset)
	var out []written
	for k := range w.gro.items {
		g := &w.gro.items[k]
		head := bufs[g.idx][offset:]
		hdr := g.finish(head, w.hdr[:])
		var wr written
		wr.hdr.decode(hdr)
		wr.n = g.segs
		if g.segs < 2 {
			wr.pkt = bytes.Clone(head)
		} else {
			wr.pkt = bytes.Clone(hdr[vnetHdrLen:])
			for m := g.idx; m >= 0; m = w.gro.next[m] {
				wr.pkt = append(wr.pkt, bufs[m][offset+g.hdrLen:]...)
			}
			if len(wr.pkt) != g.length {
				t.Fatalf("merged packet is %d bytes, item says %d", len(wr.pkt), g.length)
			}
		}
		out = append(out, wr)
	}
	for i := range bufs {
		if !bytes.Equal(bufs[i], orig[i]) {
			t.Fatalf("coalescing modified buffer %d", i)
		}
	}
	return out
}

func newVnetWriterForTest(tcp, udp bool) *vnetWriter {
	return newWriter(offloads{vnet: true, groTCP: tcp, groUDP: udp})
}

// resplit turns a written packet back into the packets the kernel would
// have seen after segmenting it.
func resplit(t testing.TB, w written) [][]byte {
	t.Helper()
	if w.hdr.gsoType == gsoNone {
		if w.hdr != (vnetHdr{}) {
			t.Fatalf("plain packet with virtio header %+v", w.hdr)
		}
		return [][]byte{w.pkt}
	}
	g, err := parseGSO(w.pkt, &w.hdr)
	if err != nil {
		t.Fatalf("merged packet does not parse: %v", err)
	}
	if g.hdrLen != int(w.hdr.hdrLen) || int(w.hdr.csumStart) != g.l4Off {
		t.Fatalf("virtio header %+v disagrees with the packet (hdrLen %d, l4 %d)", w.hdr, g.hdrLen, g.l4Off)
	}
	bufs, sizes := makeBufs(g.segs, 2000)
	n, err := splitGSO(w.pkt, &g, 0, bufs, sizes, 0)
	if err != nil || n != g.segs {
		t.Fatalf("splitGSO = %d, %v", n, err)
	}
	out := make([][]byte, n)
	for i := range n {
		out[i] = bufs[i][:sizes[i]]
	}
	return out
}

// sameExceptID compares packets ignoring the IPv4 ID and header checksum,
// which a resegmented packet numbers afresh.
func sameExceptID(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) >= 20 && a[0]>>4 == 4 {
		a, b = bytes.Clone(a), bytes.Clone(b)
		for _, i := range []int{4, 5, 10, 11} {
			a[i], b[i] = 0, 0
		}
	}
	return bytes.Equal(a, b)
}

// TestSplitCoalesceRoundTrip: the segments of a super-packet coalesce back
// into one packet that segments into the same segments again.
func TestSplitCoalesceRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       flow
		payload int
		gso     int
		flags   uint8
	}{
		{"v4 psh", v4flow(), 40000, 1368, tcpACK | tcpPSH},
		{"v4 tiny last", v4flow(), 2*1368 + 1, 1368, tcpACK},
		{"v6", v6flow(), 30000, 1348, tcpACK | tcpPSH},
		{"v4 udp", func() flow { f := v4flow(); f.udp = true; return f }(), 20*1392 + 7, 1392, 0},
		{"v6 udp", func() flow { f := v6flow(); f.udp = true; return f }(), 5 * 1372, 1372, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt, h := superPacket(tc.f, tc.flags, payloadOf(tc.payload, 5), tc.gso)
			g, err := parseGSO(pkt, &h)
			if err != nil {
				t.Fatal(err)
			}
			bufs, sizes := makeBufs(g.segs, 2000)
			if _, err := splitGSO(pkt, &g, 0, bufs, sizes, 0); err != nil {
				t.Fatal(err)
			}
			segs := make([][]byte, g.segs)
			for i := range segs {
				segs[i] = bufs[i][:sizes[i]]
			}
			out := coalesceAll(t, true, true, segs, 16)
			if len(out) != 1 || out[0].n != len(segs) {
				t.Fatalf("coalesced into %d packets, want 1 of %d", len(out), len(segs))
			}
			w := out[0]
			if int(w.hdr.gsoSize) != tc.gso || w.hdr.flags != flagNeedsCsum {
				t.Fatalf("virtio header %+v", w.hdr)
			}
			again := resplit(t, w)
			if len(again) != len(segs) {
				t.Fatalf("resplit into %d, want %d", len(again), len(segs))
			}
			for i := range segs {
				if !sameExceptID(again[i], segs[i]) {
					t.Fatalf("segment %d differs after the round trip", i)
				}
			}
		})
	}
}

func TestCoalesceRules(t *testing.T) {
	f := v4flow()
	p := func(seq uint32, flags uint8, n int) []byte { return f.build(seq, flags, 1, payloadOf(n, byte(seq))) }
	other := v4flow()
	other.sport = 40001
	q := func(seq uint32, n int) []byte { return other.build(seq, tcpACK, 1, payloadOf(n, 1)) }
	bad := v4flow()
	bad.badL4Csum = true
	ackDiff := v4flow()
	ackDiff.ack = 8
	udpf := v4flow()
	udpf.udp = true
	u := func(n int) []byte { return udpf.build(0, 0, 1, payloadOf(n, 4)) }
	opts := v4flow()
	opts.ipOpts = []byte{1, 1, 1, 0}
	icmp := func() []byte {
		b := f.build(0, 0, 1, nil)
		b[9] = unix.IPPROTO_ICMP
		binary.BigEndian.PutUint16(b[10:], 0)
		binary.BigEndian.PutUint16(b[10:], ^refSum(b[:20], 0))
		return b
	}

	for _, tc := range []struct {
		name     string
		tcp, udp bool
		pkts     [][]byte
		want     []int // packets per written packet, in order
	}{
		{"contiguous", true, true, [][]byte{p(0, tcpACK, 100), p(100, tcpACK, 100), p(200, tcpACK|tcpPSH, 100)}, []int{3}},
		{"psh ends", true, true, [][]byte{p(0, tcpACK|tcpPSH, 100), p(100, tcpACK, 100)}, []int{1, 1}},
		{"gap", true, true, [][]byte{p(0, tcpACK, 100), p(150, tcpACK, 100)}, []int{1, 1}},
		{"short then more", true, true, [][]byte{p(0, tcpACK, 100), p(100, tcpACK, 50), p(150, tcpACK, 50)}, []int{2, 1}},
		{"larger second", true, true, [][]byte{p(0, tcpACK, 100), p(100, tcpACK, 200)}, []int{1, 1}},
		{"syn fin rst", true, true, [][]byte{p(0, tcpSYN, 10), p(10, tcpACK|tcpFIN, 10), p(20, tcpACK|tcpRST, 10)}, []int{1, 1, 1}},
		{"pure acks", true, true, [][]byte{p(0, tcpACK, 0), p(0, tcpACK, 0)}, []int{1, 1}},
		{"interleaved flows", true, true, [][]byte{p(0, tcpACK, 100), q(0, 100), p(100, tcpACK, 100), q(100, 100)}, []int{2, 2}},
		{"bad checksum", true, true, [][]byte{p(0, tcpACK, 100), bad.build(100, tcpACK, 1, payloadOf(100, 0))}, []int{1, 1}},
		{"ack differs", true, true, [][]byte{p(0, tcpACK, 100), ackDiff.build(100, tcpACK, 1, payloadOf(100, 0))}, []int{1, 1}},
		{"tcp off", false, true, [][]byte{p(0, tcpACK, 100), p(100, tcpACK, 100)}, []int{1, 1}},
		{"icmp passes", true, true, [][]byte{icmp(), p(0, tcpACK, 100), icmp(), p(100, tcpACK, 100)}, []int{1, 2, 1}},
		{"ip options pass", true, true, [][]byte{opts.build(0, tcpACK, 1, payloadOf(100, 0)), opts.build(100, tcpACK, 1, payloadOf(100, 0))}, []int{1, 1}},
		{"udp", true, true, [][]byte{u(500), u(500), u(200), u(500)}, []int{3, 1}},
		{"udp off", true, false, [][]byte{u(500), u(500)}, []int{1, 1}},
		{"garbage", true, true, [][]byte{{0x45}, {}, {0x60, 0, 0}}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := coalesceAll(t, tc.tcp, tc.udp, tc.pkts, 0)
			var got []int
			for _, w := range out {
				got = append(got, w.n)
				for _, seg := range resplit(t, w) {
					if len(seg) >= 20 && w.n > 1 {
						checkPacket(t, seg)
					}
				}
			}
			if !equalInts(got, tc.want) {
				t.Fatalf("written as %v, want %v", got, tc.want)
			}
			// Each flow's packets leave in the order they came.
			var in, outPkts [][]byte
			in = tc.pkts
			for _, w := range out {
				outPkts = append(outPkts, resplit(t, w)...)
			}
			if len(outPkts) != len(in) {
				t.Fatalf("%d packets out, %d in", len(outPkts), len(in))
			}
			used := make([]bool, len(in))
			for _, o := range outPkts {
				found := false
				for i, p := range in {
					if !used[i] && sameExceptID(o, p) {
						used[i], found = true, true
						break
					}
				}
				if !found {
					t.Fatalf("written packet % x matches no input", o[:min(len(o), 40)])
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCoalesceLimit: a merge stops at 64 KiB.
func TestCoalesceLimit(t *testing.T) {
	f := v4flow()
	var pkts [][]byte
	for i := range 60 {
		pkts = append(pkts, f.build(uint32(i*1368), tcpACK, 1, payloadOf(1368, 0)))
	}
	out := coalesceAll(t, true, true, pkts, 0)
	total := 0
	for _, w := range out {
		if len(w.pkt) > maxIPPacket {
			t.Fatalf("merged packet of %d bytes", len(w.pkt))
		}
		total += w.n
	}
	if total != 60 || len(out) != 2 {
		t.Fatalf("60 segments written as %d packets holding %d", len(out), total)
	}
}

// TestCoalesceAllocs: the steady state allocates nothing.
func TestCoalesceAllocs(t *testing.T) {
	f := v4flow()
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = append(make([]byte, 16), f.build(uint32(i*1368), tcpACK, 1, payloadOf(1368, 0))...)
	}
	w := newVnetWriterForTest(true, true)
	w.gro.coalesce(bufs, 16)
	allocs := testing.AllocsPerRun(100, func() {
		w.gro.coalesce(bufs, 16)
		for k := range w.gro.items {
			w.gro.items[k].finish(bufs[w.gro.items[k].idx][16:], w.hdr[:])
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per batch", allocs)
	}
}

func BenchmarkSplitTCP(b *testing.B) {
	pkt, h := superPacket(v4flow(), tcpACK, payloadOf(65535-52, 0), 1368)
	g, _ := parseGSO(pkt, &h)
	bufs, sizes := makeBufs(g.segs, 1500+16)
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		splitGSO(pkt, &g, 0, bufs, sizes, 16)
	}
}

func BenchmarkCoalesceTCP(b *testing.B) {
	f := v4flow()
	bufs := make([][]byte, 48)
	for i := range bufs {
		bufs[i] = append(make([]byte, 16), f.build(uint32(i*1368), tcpACK, 1, payloadOf(1368, 0))...)
	}
	w := newVnetWriterForTest(true, true)
	b.SetBytes(48 * 1368)
	for b.Loop() {
		w.gro.coalesce(bufs, 16)
		for k := range w.gro.items {
			w.gro.items[k].finish(bufs[w.gro.items[k].idx][16:], w.hdr[:])
		}
	}
}
