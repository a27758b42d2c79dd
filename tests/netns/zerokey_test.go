// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"strings"
	"testing"
	"time"
)

// zeroKey is the all-zero Curve25519 public key in wg(8)'s base64 form.
const zeroKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// TestZeroPeerKey configures the all-zero public key as a peer with wg(8),
// as the kernel allows: the set succeeds, wg show lists the peer, traffic
// routed to it never leaves as a handshake (the Diffie-Hellman result with
// a low-order point is refused), the tunnel's real peer keeps working, and
// the zero peer can be removed again.
func TestZeroPeerKey(t *testing.T) {
	impl := implUnderTest(t)
	a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true})
	a.Wg("set", a.Iface, "peer", zeroKey, "allowed-ips", "10.214.9.0/24",
		"endpoint", b.UnderlayEndpoint(false))
	a.NS.MustRun("ip", "route", "add", "10.214.9.0/24", "dev", a.Iface)
	if peers := a.Wg("show", a.Iface, "peers"); !strings.Contains(peers, zeroKey) {
		t.Fatalf("wg show peers does not list the zero key:\n%s", peers)
	}
	// Ask for a handshake with the zero peer a few times.
	a.NS.Run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "10.214.9.1")
	// The real peer still works, which also proves the daemon processed
	// the pings above before the counters are read.
	p := StartPinger(t, a.NS, b.Inner4.Addr().String())
	start := time.Now()
	Eventually(t, 10*time.Second, "replies from the real peer", func() (bool, string) {
		return p.RepliesSince(start) >= 2, p.Output()
	})
	if _, tx := a.Transfer(zeroKey); tx != 0 {
		t.Fatalf("%d bytes sent to the zero-key peer", tx)
	}
	a.Wg("set", a.Iface, "peer", zeroKey, "remove")
	if peers := a.Wg("show", a.Iface, "peers"); strings.Contains(peers, zeroKey) {
		t.Fatalf("zero key still listed after remove:\n%s", peers)
	}
}
