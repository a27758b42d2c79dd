// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"net/netip"
	"testing"
	"time"
)

// TestRoaming moves the client to a new underlay address while it pings
// the server. The server has no configured endpoint for the client, so the
// only way it can keep answering is by following the authenticated packets
// to their new source address (whitepaper §2.1, endpoint roaming); the
// client in turn must stop using the vanished address as its source.
func TestRoaming(t *testing.T) {
	impl := implUnderTest(t)
	client, server := NewPair(t, impl, impl, PairConfig{AKnowsB: true})

	p := StartPinger(t, client.NS, server.Inner4.Addr().String())
	start := time.Now()
	Eventually(t, 5*time.Second, "replies before roaming", func() (bool, string) {
		return p.RepliesSince(start) >= 3, p.Output()
	})
	if got, want := server.Endpoint(client.Key.Public), client.UnderlayEndpoint(false); got != want {
		t.Fatalf("before roaming the server sees the client at %q, want %q", got, want)
	}

	moved := netip.MustParsePrefix("10.213.1.3/24")
	roamed := time.Now()
	client.NS.DelAddr(client.Dev, client.Underlay4.String())
	client.NS.AddAddr(client.Dev, moved.String())
	client.Underlay4 = moved

	want := client.UnderlayEndpoint(false)
	Eventually(t, 10*time.Second, "server to follow the client to "+want, func() (bool, string) {
		got := server.Endpoint(client.Key.Public)
		return got == want, "server sees " + got
	})
	followed := time.Now()
	Eventually(t, 10*time.Second, "replies after roaming", func() (bool, string) {
		return p.RepliesSince(followed) >= 3, p.Output()
	})
	t.Logf("server followed the client %v after the address change; replies resumed", followed.Sub(roamed).Round(time.Millisecond))
}
