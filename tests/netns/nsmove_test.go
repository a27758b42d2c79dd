// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"strings"
	"testing"
	"time"
)

// TestInterfaceMovedToAnotherNamespace follows the container recipe: the
// daemon creates the interface in A (where its UDP socket lives), then the
// interface is moved into namespace C with ip link set ... netns C and
// configured there. The daemon must not take the move for a deletion:
// traffic works before the move from A and after it from C, an MTU change
// made in C reaches the daemon, and the daemon ends only when the
// interface is deleted.
func TestInterfaceMovedToAnotherNamespace(t *testing.T) {
	impl := implUnderTest(t)
	a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true})
	target := b.Inner4.Addr().String()
	if out, err := a.NS.Run("ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", target); err != nil {
		t.Fatalf("ping before the move: %v\n%s", err, out)
	}

	c := NewNetns(t)
	a.NS.MustRun("ip", "link", "set", a.Iface, "netns", c.Name)
	// The move must not end the daemon. Its UAPI answers throughout, and
	// the interface is in C.
	Eventually(t, 5*time.Second, "the interface to show up in C", func() (bool, string) {
		out, err := c.Run("ip", "link", "show", a.Iface)
		return err == nil, out
	})
	c.AddAddr(a.Iface, a.Inner4.String())
	c.AddAddr(a.Iface, a.Inner6.String())
	c.MustRun("ip", "link", "set", a.Iface, "up")
	if a.Exited() {
		t.Fatalf("daemon exited after the interface moved:\n%s", a.Output())
	}
	p := StartPinger(t, c, target)
	start := time.Now()
	Eventually(t, 10*time.Second, "replies through the moved interface", func() (bool, string) {
		return p.RepliesSince(start) >= 3, p.Output()
	})
	if out, err := c.Run("ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", b.Inner6.Addr().String()); err != nil {
		t.Fatalf("IPv6 ping after the move: %v\n%s", err, out)
	}

	// Up/down and MTU changes in the new namespace reach the daemon.
	// wireguard-go keeps serving but asks the old namespace for the MTU
	// ("no such device"); following the interface is wgplex's own.
	c.MustRun("ip", "link", "set", a.Iface, "mtu", "1360")
	if impl.Name == "wgplex" {
		Eventually(t, 5*time.Second, "the daemon to log the new MTU", func() (bool, string) {
			out := a.Output()
			return strings.Contains(out, "MTU updated") && strings.Contains(out, "mtu=1360"), "no MTU update logged"
		})
	}
	c.MustRun("ip", "link", "set", a.Iface, "down")
	c.MustRun("ip", "link", "set", a.Iface, "up")
	c.MustRun("ip", "addr", "replace", a.Inner4.String(), "dev", a.Iface)
	again := time.Now()
	Eventually(t, 10*time.Second, "replies after down/up in C", func() (bool, string) {
		return p.RepliesSince(again) >= 2, p.Output()
	})

	c.MustRun("ip", "link", "del", a.Iface)
	Eventually(t, 10*time.Second, "the daemon to exit once the interface is deleted", func() (bool, string) {
		return a.Exited(), "still running"
	})
}
