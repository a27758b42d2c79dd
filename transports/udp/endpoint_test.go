// SPDX-License-Identifier: MIT

package udp

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in   string
		want string // DstAddrPort().String(); "" means an error is expected
	}{
		{"1.2.3.4:51820", "1.2.3.4:51820"},
		{"[fd00::1]:51820", "[fd00::1]:51820"},
		{"[::ffff:1.2.3.4]:51820", "1.2.3.4:51820"},
		{"[fe80::1%eth0]:1", "[fe80::1%eth0]:1"},
		{"0.0.0.0:0", "0.0.0.0:0"},
		{"", ""},
		{"1.2.3.4", ""},
		{"1.2.3.4:", ""},
		{"1.2.3.4:65536", ""},
		{"1.2.3.4:-1", ""},
		{"fd00::1:51820", ""},
		{"[fd00::1]", ""},
		{"[fd00::1:51820", ""},
		{"example.com:51820", ""},
		{"1.2.3.256:1", ""},
		{":51820", ""},
		{"[]:1", ""},
		{"\x00\xff:1", ""},
	}
	b := NewBind()
	for _, tt := range tests {
		ep, err := ParseEndpoint(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseEndpoint(%q) = %v, want error", tt.in, ep)
			} else if !errors.Is(err, ErrBadEndpoint) {
				t.Errorf("ParseEndpoint(%q) error %v does not wrap ErrBadEndpoint", tt.in, err)
			}
			if cep, err := b.ParseEndpoint(tt.in); err == nil || cep != nil {
				t.Errorf("Bind.ParseEndpoint(%q) = %v, %v; want nil interface and error", tt.in, cep, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", tt.in, err)
			continue
		}
		if got := ep.DstAddrPort().String(); got != tt.want {
			t.Errorf("ParseEndpoint(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if ep.String() != tt.want {
			t.Errorf("String() = %s, want %s", ep.String(), tt.want)
		}
		if ep.SrcAddr().IsValid() {
			t.Errorf("ParseEndpoint(%q) has a source %v", tt.in, ep.SrcAddr())
		}
	}
}

func TestEndpointClearSrc(t *testing.T) {
	ep := NewEndpoint(netip.MustParseAddrPort("[::ffff:10.0.0.1]:5"), netip.MustParseAddr("::ffff:10.0.0.2"), 3)
	if got := ep.DstAddrPort(); got != netip.MustParseAddrPort("10.0.0.1:5") {
		t.Fatalf("dst not unmapped: %v", got)
	}
	if ep.SrcAddr() != netip.MustParseAddr("10.0.0.2") || ep.SrcIfindex() != 3 {
		t.Fatalf("src = %v if %d", ep.SrcAddr(), ep.SrcIfindex())
	}
	ep.ClearSrc()
	if ep.SrcAddr().IsValid() || ep.SrcIfindex() != 0 {
		t.Fatalf("after ClearSrc: src = %v if %d", ep.SrcAddr(), ep.SrcIfindex())
	}
}

func TestEndpointCache(t *testing.T) {
	var c epCache
	k := epKey{dst: netip.MustParseAddrPort("10.0.0.1:5"), src: netip.MustParseAddr("10.0.0.2"), ifindex: 1}
	a := c.get(k)
	if c.get(k) != a {
		t.Fatal("same key gave a different endpoint")
	}
	a.ClearSrc()
	b := c.get(k)
	if b == a || b.SrcAddr() != k.src {
		t.Fatal("an endpoint whose source was cleared was handed out again")
	}
	if a.SrcAddr().IsValid() {
		t.Fatal("the old endpoint changed")
	}
	for i := range maxCachedEndpoints * 2 {
		c.get(epKey{dst: netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(i))})
	}
	if len(c.m) > maxCachedEndpoints {
		t.Fatalf("cache grew to %d", len(c.m))
	}
	if b.DstAddrPort() != k.dst || b.SrcAddr() != k.src {
		t.Fatal("an endpoint handed out changed when the cache was emptied")
	}
}

// TestEndpointCacheLastHit checks the one-entry front of the cache: it
// answers for the key it holds, steps aside for another key and for an
// endpoint whose source was cleared, and always agrees with the map.
func TestEndpointCacheLastHit(t *testing.T) {
	var c epCache
	k1 := epKey{dst: netip.MustParseAddrPort("10.0.0.1:5"), src: netip.MustParseAddr("10.0.0.2"), ifindex: 1}
	k2 := epKey{dst: netip.MustParseAddrPort("10.0.0.1:5"), src: netip.MustParseAddr("10.0.0.3"), ifindex: 1}
	k3 := epKey{dst: netip.MustParseAddrPort("[fe80::1%7]:5"), src: netip.MustParseAddr("fe80::2"), ifindex: 7}
	k4 := epKey{dst: netip.MustParseAddrPort("[fe80::1%8]:5"), src: netip.MustParseAddr("fe80::2"), ifindex: 7}
	check := func() {
		t.Helper()
		if c.last == nil || c.m[c.lastKey] != c.last {
			t.Fatalf("the last-hit entry (%v) is not the map's", c.lastKey)
		}
	}
	a1 := c.get(k1)
	check()
	a2 := c.get(k2)
	check()
	if a2 == a1 || a2.SrcAddr() != k2.src {
		t.Fatalf("key %v answered with the endpoint of %v", k2, k1)
	}
	if c.get(k1) != a1 || c.get(k1) != a1 || c.get(k2) != a2 {
		t.Fatal("alternating keys gave different endpoints")
	}
	check()
	// Keys that differ only in the zone are different keys.
	a3, a4 := c.get(k3), c.get(k4)
	if a3 == a4 || a4.DstAddrPort() != k4.dst {
		t.Fatal("keys that differ in the zone shared an endpoint")
	}
	check()
	a4.ClearSrc()
	b4 := c.get(k4)
	if b4 == a4 || !b4.SrcAddr().IsValid() {
		t.Fatal("the last-hit entry handed out an endpoint whose source was cleared")
	}
	check()
	a1.ClearSrc()
	if b1 := c.get(k1); b1 == a1 || b1.SrcAddr() != k1.src {
		t.Fatal("a map entry whose source was cleared was handed out")
	}
	check()
	// Overflow empties the map; the last-hit entry stays in step with it.
	for i := range maxCachedEndpoints + 3 {
		c.get(epKey{dst: netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(i))})
		check()
	}
	if len(c.m) > maxCachedEndpoints {
		t.Fatalf("cache grew to %d", len(c.m))
	}
}
