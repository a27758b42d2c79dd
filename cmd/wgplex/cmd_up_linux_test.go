// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core/config"
)

func TestParseQuickArgs(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		netns, path, iface string
		err                string
	}{
		{args: []string{"wg0"}, path: "/etc/wireguard/wg0.conf", iface: "wg0"},
		{args: []string{"/tmp/x/wg-home.conf"}, path: "/tmp/x/wg-home.conf", iface: "wg-home"},
		{args: []string{"./a=b+c.d_e.conf"}, path: "./a=b+c.d_e.conf", iface: "a=b+c.d_e"},
		{args: []string{"--netns", "box", "wg0"}, netns: "box", path: "/etc/wireguard/wg0.conf", iface: "wg0"},
		{args: []string{"wg0", "--netns=box"}, netns: "box", path: "/etc/wireguard/wg0.conf", iface: "wg0"},
		{args: []string{"--netns"}, err: "needs a namespace"},
		{args: []string{"--netns=", "wg0"}, err: "needs a namespace"},
		{args: []string{"--bogus", "wg0"}, err: "unknown option"},
		{args: []string{}, err: "expected one"},
		{args: []string{"wg0", "wg1"}, err: "expected one"},
		{args: []string{"/tmp/sixteen-chars-xx.conf"}, err: "must be an interface name"},
		{args: []string{"/tmp/wg0.txt"}, err: "must be an interface name"},
		{args: []string{"/tmp/bad name.conf"}, err: "must be an interface name"},
	} {
		q, err := parseQuickArgs(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if q.netns != tc.netns || q.path != tc.path || q.ifname != tc.iface {
			t.Errorf("%q: got %+v, want netns %q path %q ifname %q", tc.args, q, tc.netns, tc.path, tc.iface)
		}
	}
}

func TestRoutedPrefixes(t *testing.T) {
	f, err := config.Parse("t.conf", strings.NewReader(`[Interface]
[Peer]
PublicKey = HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=
AllowedIPs = 10.1.2.3/16, 0.0.0.0/0, fd00::1/64
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
AllowedIPs = 10.1.0.0/16, 10.9.9.9/32, ::/0
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range routedPrefixes(f) {
		got = append(got, p.String())
	}
	// By prefix length, longest first, as wg-quick sorts them.
	want := []string{"fd00::/64", "10.9.9.9/32", "10.1.0.0/16", "0.0.0.0/0", "::/0"}
	if !slices.Equal(got, want) {
		t.Errorf("routedPrefixes = %v, want %v", got, want)
	}
	if !hasDefaultRoute(f) {
		t.Error("hasDefaultRoute = false")
	}
}

func TestOrderLike(t *testing.T) {
	p := netip.MustParsePrefix
	have := []netip.Prefix{p("10.0.0.9/32"), p("10.0.0.1/24"), p("fd00::1/64")}
	file := []netip.Prefix{p("fd00::1/64"), p("10.0.0.1/24"), p("10.0.0.5/24")}
	got := orderLike(have, file)
	want := []netip.Prefix{p("fd00::1/64"), p("10.0.0.1/24"), p("10.0.0.9/32")}
	if !slices.Equal(got, want) {
		t.Errorf("orderLike = %v, want %v", got, want)
	}
}

func TestParseTableMode(t *testing.T) {
	for in, want := range map[string]tableMode{
		"": {auto: true}, "auto": {auto: true}, "Auto": {auto: true}, "off": {off: true},
		"1234": {table: 1234}, "main": {table: 254}, "local": {table: 255},
	} {
		got, err := parseTableMode(in)
		if err != nil || got != want {
			t.Errorf("parseTableMode(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if _, err := parseTableMode("no-such-table-name"); err == nil {
		t.Error("an unknown table name was accepted")
	}
}
