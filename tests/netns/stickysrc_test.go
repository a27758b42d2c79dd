// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestSourceFollowsRouteChange gives A a second link to B and then a more
// specific route to B's endpoint through it, with another source address.
// Like the kernel, the daemon must drop the sticky source it learnt on the
// first link and send from the route's source: B then sees A's endpoint
// move to that address. IPv4 and IPv6 underlays.
func TestSourceFollowsRouteChange(t *testing.T) {
	impl := implUnderTest(t)
	for _, v6 := range []bool{false, true} {
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[v6], func(t *testing.T) {
			a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true, BKnowsA: true, IPv6Underlay: v6})
			p := StartPinger(t, a.NS, b.Inner4.Addr().String())
			start := time.Now()
			Eventually(t, 10*time.Second, "replies on the first link", func() (bool, string) {
				return p.RepliesSince(start) >= 2, p.Output()
			})
			if got, want := b.Endpoint(a.Key.Public), a.UnderlayEndpoint(v6); got != want {
				t.Fatalf("B sees A at %s before the route change, want %s", got, want)
			}

			Veth(t, a.NS, "ul1", b.NS, "ul1")
			newSrc, gw, route := "10.213.3.1", "10.213.3.2", b.Underlay4.Addr().String()+"/32"
			a.NS.AddAddr("ul1", newSrc+"/24")
			b.NS.AddAddr("ul1", gw+"/24")
			if v6 {
				newSrc, gw, route = "fd00:213:3::1", "fd00:213:3::2", b.Underlay6.Addr().String()+"/128"
				a.NS.AddAddr("ul1", newSrc+"/64")
				b.NS.AddAddr("ul1", gw+"/64")
			}
			a.NS.MustRun("ip", "route", "add", route, "via", gw, "dev", "ul1", "src", newSrc, "metric", "1")
			want := netip.AddrPortFrom(netip.MustParseAddr(newSrc), uint16(a.Port)).String()
			Eventually(t, 10*time.Second, fmt.Sprintf("B to see A at %s", want), func() (bool, string) {
				got := b.Endpoint(a.Key.Public)
				return got == want, "B sees A at " + got
			})
			moved := time.Now()
			Eventually(t, 10*time.Second, "replies after the route change", func() (bool, string) {
				return p.RepliesSince(moved) >= 3, p.Output()
			})
			// And back: without the route, the first link's address again,
			// as the kernel does. wireguard-go stays on the second link's
			// address (measured), so this part is wgplex's own.
			a.NS.MustRun("ip", "route", "del", route, "via", gw, "dev", "ul1")
			if impl.Name != "wgplex" {
				return
			}
			back := a.UnderlayEndpoint(v6)
			Eventually(t, 10*time.Second, "B to see A at "+back+" again", func() (bool, string) {
				got := b.Endpoint(a.Key.Public)
				return got == back, "B sees A at " + got
			})
		})
	}
}
