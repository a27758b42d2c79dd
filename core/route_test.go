// SPDX-License-Identifier: MIT

package core_test

import (
	"net/netip"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

func TestRoutes(t *testing.T) {
	a, b, _ := coretest.Pair(t, coretest.NewFakeClock(coretest.Epoch), false, nil)
	for addr, want := range map[string]bool{
		"10.0.0.2":        true,
		"fd00::2":         true,
		"::ffff:10.0.0.2": true, // a mapped address is its IPv4 one
		"10.0.0.3":        false,
		"10.0.0.1":        false, // a's own address is no peer's
	} {
		if got := a.Tunnel.Routes(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Routes(%s) = %v, want %v", addr, got, want)
		}
	}
	// A change of allowed IPs is seen at once.
	if err := a.Tunnel.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: b.Pub,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.9.0.0/16")}}}}}); err != nil {
		t.Fatal(err)
	}
	if !a.Tunnel.Routes(netip.MustParseAddr("10.9.1.1")) {
		t.Error("a prefix added by Apply is not routed")
	}
}
