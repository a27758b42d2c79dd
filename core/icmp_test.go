// SPDX-License-Identifier: MIT

package core

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func testPacket(src, dst string, proto byte, payload []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		p := make([]byte, 20+len(payload))
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		p[8], p[9] = 64, proto
		copy(p[12:16], s.AsSlice())
		copy(p[16:20], d.AsSlice())
		copy(p[20:], payload)
		return p
	}
	p := make([]byte, 40+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6], p[7] = proto, 64
	copy(p[8:24], s.AsSlice())
	copy(p[24:40], d.AsSlice())
	copy(p[40:], payload)
	return p
}

// checkUnreachable verifies an error built for orig: addresses swapped,
// type and code, valid checksums, the original quoted.
func checkUnreachable(t *testing.T, out, orig []byte) {
	t.Helper()
	be := binary.BigEndian
	if orig[0]>>4 == 4 {
		if len(out) > icmpV4MaxSize || out[0] != 0x45 || out[9] != 1 || int(be.Uint16(out[2:4])) != len(out) {
			t.Fatalf("bad IPv4 header % x", out[:20])
		}
		if checksum(out[:20], 0) != 0xffff || checksum(out[20:], 0) != 0xffff {
			t.Fatal("bad IPv4 or ICMP checksum")
		}
		if string(out[12:16]) != string(orig[16:20]) || string(out[16:20]) != string(orig[12:16]) {
			t.Fatal("addresses not swapped")
		}
		if out[20] != 3 || out[21] != 1 {
			t.Fatalf("type/code %d/%d, want 3/1", out[20], out[21])
		}
		if q := out[28:]; string(q) != string(orig[:len(q)]) {
			t.Fatal("original not quoted")
		}
		return
	}
	if len(out) > icmpV6MaxSize || out[6] != 58 || int(be.Uint16(out[4:6])) != len(out)-40 {
		t.Fatalf("bad IPv6 header % x", out[:40])
	}
	plen := len(out) - 40
	sum := checksum(out[8:40], 0)
	sum = checksum([]byte{0, 0, byte(plen >> 8), byte(plen), 0, 0, 0, 58}, uint32(sum))
	if checksum(out[40:], uint32(sum)) != 0xffff {
		t.Fatal("bad ICMPv6 checksum")
	}
	if string(out[8:24]) != string(orig[24:40]) || string(out[24:40]) != string(orig[8:24]) {
		t.Fatal("addresses not swapped")
	}
	if out[40] != 1 || out[41] != 3 {
		t.Fatalf("type/code %d/%d, want 1/3", out[40], out[41])
	}
	if q := out[48:]; string(q) != string(orig[:len(q)]) {
		t.Fatal("original not quoted")
	}
}

func TestUnreachableMessages(t *testing.T) {
	echo := []byte{8, 0, 0, 0, 0, 1, 0, 1}
	echo6 := []byte{128, 0, 0, 0, 0, 1, 0, 1}
	big := make([]byte, 3000)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"v4 echo", testPacket("10.0.0.1", "10.9.0.1", 1, echo), true},
		{"v4 udp", testPacket("10.0.0.1", "10.9.0.1", 17, []byte("hello")), true},
		{"v4 large, quoted in part", testPacket("10.0.0.1", "10.9.0.1", 17, big), true},
		{"v4 icmp error", testPacket("10.0.0.1", "10.9.0.1", 1, []byte{3, 1, 0, 0, 0, 0, 0, 0}), false},
		{"v4 multicast dst", testPacket("10.0.0.1", "224.0.0.5", 17, nil), false},
		{"v4 broadcast dst", testPacket("10.0.0.1", "255.255.255.255", 17, nil), false},
		{"v4 unspecified src", testPacket("0.0.0.0", "10.9.0.1", 17, nil), false},
		{"v6 echo", testPacket("fd00::1", "fd00:9::1", 58, echo6), true},
		{"v6 tcp", testPacket("fd00::1", "fd00:9::1", 6, []byte("x")), true},
		{"v6 large", testPacket("fd00::1", "fd00:9::1", 17, big), true},
		{"v6 icmp error", testPacket("fd00::1", "fd00:9::1", 58, []byte{1, 3, 0, 0}), false},
		{"v6 multicast dst", testPacket("fd00::1", "ff02::1", 17, nil), false},
		{"v6 unspecified src", testPacket("::", "fd00:9::1", 17, nil), false},
		{"garbage", []byte{0x45, 1, 2}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := unreachableSource(tc.pkt)
			if ok != tc.want {
				t.Fatalf("answerable = %v, want %v", ok, tc.want)
			}
			if !ok {
				return
			}
			out, ok := appendUnreachable(nil, tc.pkt)
			if !ok {
				t.Fatal("not built")
			}
			checkUnreachable(t, out, tc.pkt)
		})
	}
	frag := testPacket("10.0.0.1", "10.9.0.1", 17, []byte("x"))
	binary.BigEndian.PutUint16(frag[6:8], 100)
	if _, ok := unreachableSource(frag); ok {
		t.Fatal("answered a non-first fragment")
	}
}

// The rate limit: per sender a burst of 6, then one a second; and in all
// a burst of 50.
func TestUnreachableRateLimit(t *testing.T) {
	clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := newUnreachResponder(clock)
	pkt := testPacket("10.0.0.1", "10.9.0.1", 17, nil)
	for range 20 {
		r.queue(pkt)
	}
	if n := len(r.pending); n != icmpPerSrcBurst {
		t.Fatalf("%d errors for a burst of 20, want %d", n, icmpPerSrcBurst)
	}
	r.pending = r.pending[:0]
	clock.now = clock.now.Add(time.Second)
	for range 5 {
		r.queue(pkt)
	}
	if n := len(r.pending); n != 1 {
		t.Fatalf("%d errors one second later, want 1", n)
	}
	r.pending = r.pending[:0]
	clock.now = clock.now.Add(time.Hour)
	for i := range 200 {
		r.queue(testPacket(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String(), "10.9.0.1", 17, nil))
	}
	if n := len(r.pending); n != icmpTotalBurst {
		t.Fatalf("%d errors to 200 senders at once, want the global burst %d", n, icmpTotalBurst)
	}
}

// FuzzUnreachable: any packet is either refused or answered with a
// well-formed error of bounded size.
func FuzzUnreachable(f *testing.F) {
	f.Add(testPacket("10.0.0.1", "10.9.0.1", 1, []byte{8, 0, 0, 0}))
	f.Add(testPacket("fd00::1", "fd00:9::1", 58, []byte{128, 0, 0, 0}))
	f.Add(testPacket("10.0.0.1", "10.9.0.1", 17, make([]byte, 700)))
	f.Add([]byte{0x4f})
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if _, ok := unreachableSource(pkt); !ok {
			return
		}
		out, ok := appendUnreachable(nil, pkt)
		if !ok {
			return
		}
		checkUnreachable(t, out, pkt)
	})
}
