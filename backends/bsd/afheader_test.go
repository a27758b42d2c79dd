// SPDX-License-Identifier: MIT

package bsd

import (
	"bytes"
	"errors"
	"testing"
)

func TestAFHeaderPerSystem(t *testing.T) {
	// The bytes each kernel puts in front of an IPv4 and an IPv6 packet.
	cases := []struct {
		name  string
		tab   afTable
		inet  []byte
		inet6 []byte
	}{
		{"darwin", afDarwin, []byte{0, 0, 0, 2}, []byte{0, 0, 0, 30}},
		{"freebsd", afFreeBSD, []byte{0, 0, 0, 2}, []byte{0, 0, 0, 28}},
		{"netbsd", afNetBSD, []byte{0, 0, 0, 2}, []byte{0, 0, 0, 24}},
		{"openbsd", afOpenBSD, []byte{0, 0, 0, 2}, []byte{0, 0, 0, 24}},
	}
	v4 := []byte{0x45, 0, 0, 20}
	v6 := []byte{0x60, 0, 0, 0}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := make([]byte, afHeaderLen)
			if err := c.tab.encode(hdr, v4); err != nil || !bytes.Equal(hdr, c.inet) {
				t.Errorf("encode(IPv4) = %x, %v; want %x", hdr, err, c.inet)
			}
			if err := c.tab.encode(hdr, v6); err != nil || !bytes.Equal(hdr, c.inet6) {
				t.Errorf("encode(IPv6) = %x, %v; want %x", hdr, err, c.inet6)
			}
			if v, err := c.tab.decode(c.inet); v != 4 || err != nil {
				t.Errorf("decode(%x) = %d, %v; want 4", c.inet, v, err)
			}
			if v, err := c.tab.decode(c.inet6); v != 6 || err != nil {
				t.Errorf("decode(%x) = %d, %v; want 6", c.inet6, v, err)
			}
		})
	}
}

func TestAFHeaderRejects(t *testing.T) {
	hdr := make([]byte, afHeaderLen)
	for _, pkt := range [][]byte{nil, {0x00}, {0x50}, {0xf0, 1, 2}} {
		if err := afFreeBSD.encode(hdr, pkt); !errors.Is(err, ErrUnknownFamily) {
			t.Errorf("encode(%x) = %v, want ErrUnknownFamily", pkt, err)
		}
	}
	if err := afFreeBSD.encode(hdr[:3], []byte{0x45}); !errors.Is(err, ErrUnknownFamily) {
		t.Errorf("encode into a short header = %v", err)
	}
	for _, h := range [][]byte{nil, {0, 0, 2}, {0, 0, 0, 0}, {2, 0, 0, 0}, {0, 0, 0, 30}} {
		// {2,0,0,0} is AF_INET in the wrong byte order; 30 is macOS's
		// AF_INET6, not FreeBSD's.
		if _, err := afFreeBSD.decode(h); !errors.Is(err, ErrUnknownFamily) {
			t.Errorf("decode(%x) = %v, want ErrUnknownFamily", h, err)
		}
	}
}
