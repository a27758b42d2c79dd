// SPDX-License-Identifier: MIT

package udp

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestSockOptsFor(t *testing.T) {
	cases := []struct {
		goos                string
		v4Format            srcFormat
		v4Recv, v4In, v4Out int
		v6                  bool
		v6Recv              int
		mark                int
	}{
		// FreeBSD and OpenBSD: IP_RECVDSTADDR in, IP_SENDSRCADDR out.
		{"freebsd", formatInAddr, 7, 7, 7, true, 36, 0x1015},
		{"openbsd", formatInAddr, 7, 7, 7, true, 36, 0x1021},
		{"netbsd", formatNone, 0, 0, 0, true, 36, 0},
		// macOS: IP_RECVPKTINFO/IP_PKTINFO with struct in_pktinfo.
		{"darwin", formatInPktinfo, 0x1a, 0x1a, 0x1a, true, 0x3d, 0},
		{"windows", formatNone, 0, 0, 0, false, 0, 0},
		{"dragonfly", formatNone, 0, 0, 0, false, 0, 0},
	}
	for _, c := range cases {
		o := sockOptsFor(c.goos)
		if o.v4Format != c.v4Format || o.v4RecvOpt != c.v4Recv || o.v4RecvType != c.v4In || o.v4SendType != c.v4Out {
			t.Errorf("%s: IPv4 %+v", c.goos, o)
		}
		if o.v6 != c.v6 || o.v6RecvOpt != c.v6Recv || (c.v6 && o.v6Type != 46) {
			t.Errorf("%s: IPv6 %+v", c.goos, o)
		}
		if o.markOpt != c.mark {
			t.Errorf("%s: mark option %#x, want %#x", c.goos, o.markOpt, c.mark)
		}
	}
}

func TestV4Payloads(t *testing.T) {
	src := netip.MustParseAddr("192.0.2.7")
	fb := sockOptsFor("freebsd")
	if got := fb.encodeV4Src(src); !bytes.Equal(got, []byte{192, 0, 2, 7}) {
		t.Errorf("FreeBSD IP_SENDSRCADDR payload %x", got)
	}
	if a, ix, ok := fb.decodeV4Dst([]byte{192, 0, 2, 7}); !ok || a != src || ix != 0 {
		t.Errorf("FreeBSD IP_RECVDSTADDR decode = %v %d %v", a, ix, ok)
	}
	if _, _, ok := fb.decodeV4Dst([]byte{192, 0, 2}); ok {
		t.Error("short in_addr accepted")
	}

	mac := sockOptsFor("darwin")
	pkt := mac.encodeV4Src(src)
	want := []byte{0, 0, 0, 0, 192, 0, 2, 7, 0, 0, 0, 0} // ifindex 0, spec_dst, addr 0
	if !bytes.Equal(pkt, want) {
		t.Errorf("macOS in_pktinfo to send = %x, want %x", pkt, want)
	}
	// Received: ifindex 3 (host order), spec_dst 10.0.0.1, addr 192.0.2.7.
	in := []byte{3, 0, 0, 0, 10, 0, 0, 1, 192, 0, 2, 7}
	if a, ix, ok := mac.decodeV4Dst(in); !ok || a != src || ix != 3 {
		t.Errorf("macOS in_pktinfo decode = %v %d %v", a, ix, ok)
	}
	if _, _, ok := mac.decodeV4Dst(in[:11]); ok {
		t.Error("short in_pktinfo accepted")
	}

	nb := sockOptsFor("netbsd")
	if nb.encodeV4Src(src) != nil {
		t.Error("NetBSD has no IPv4 source option, but one was encoded")
	}
	if _, _, ok := nb.decodeV4Dst([]byte{192, 0, 2, 7}); ok {
		t.Error("NetBSD decoded an IPv4 destination")
	}
}

func TestV6Payloads(t *testing.T) {
	global := netip.MustParseAddr("2001:db8::7")
	ll := netip.MustParseAddr("fe80::7")
	b := encodeV6Src(global, 5)
	if len(b) != 20 || !bytes.Equal(b[:16], global.AsSlice()) || !bytes.Equal(b[16:], []byte{0, 0, 0, 0}) {
		t.Errorf("global source payload %x: the interface must be left to routing", b)
	}
	b = encodeV6Src(ll, 5)
	if !bytes.Equal(b[16:], []byte{5, 0, 0, 0}) {
		t.Errorf("link-local source payload %x: needs its interface", b)
	}
	a, ix, ok := decodeV6Dst(b)
	if !ok || a != ll || ix != 5 {
		t.Errorf("decode = %v %d %v", a, ix, ok)
	}
	if _, _, ok := decodeV6Dst(b[:19]); ok {
		t.Error("short in6_pktinfo accepted")
	}
}
