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
