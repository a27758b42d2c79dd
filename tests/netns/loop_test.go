// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"testing"
	"time"
)

// TestRoutingLoopStops routes the peer's own endpoint into the tunnel
// (allowed IPs and a host route covering it, as a default route through
// the interface without fwmark rules would) after a session is up. Each
// outer datagram then comes back out of the interface; the daemon must
// drop it rather than encrypt it again, so the bytes sent to the peer stay
// bounded by the few pings sent, where an unguarded tunnel sends without
// end.
func TestRoutingLoopStops(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		// wireguard-go encapsulates without end here (hundreds of MB in
		// seconds), which would only load the shared test machine.
		t.Skipf("%s has no routing-loop guard", impl.Name)
	}
	a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true, ArgsA: []string{"--metrics-listen", "127.0.0.1:9586"}})
	target := b.Inner4.Addr().String()
	if out, err := a.NS.Run("ping", "-n", "-c", "1", "-W", "5", target); err != nil {
		t.Fatalf("ping before the loop: %v\n%s", err, out)
	}
	const loopSeries = `wgplex_dropped_packets_total{device="%s",reason="routing_loop"}`
	series := fmt.Sprintf(loopSeries, a.Iface)
	if v := metricValue(scrapeMetrics(t, a.NS), series); v != 0 {
		t.Fatalf("%s = %v before the loop, want 0", series, v)
	}
	endpoint := b.Underlay4.Addr().String() + "/32"
	a.Wg("set", a.Iface, "peer", b.Key.Public, "allowed-ips",
		fmt.Sprintf("%s/32,%s/128,%s", b.Inner4.Addr(), b.Inner6.Addr(), endpoint))
	a.NS.MustRun("ip", "route", "add", endpoint, "dev", a.Iface)
	_, before := a.Transfer(b.Key.Public)
	const pings = 5
	a.NS.Run("ping", "-n", "-c", fmt.Sprint(pings), "-i", "0.2", "-W", "1", target)
	// An absence can only be seen over a window: an unguarded loop sends
	// megabytes within it, so one second is plenty. (Not a wait for
	// something to happen; nothing is expected to.)
	time.Sleep(time.Second)
	_, after := a.Transfer(b.Key.Public)
	// Each ping leaves once (a 148-byte data message); the datagram that
	// comes back is dropped. Allow for keepalives and a handshake.
	const bound = pings*148 + 4096
	t.Logf("sent to the peer while looping: %d bytes for %d pings", after-before, pings)
	if after-before > bound {
		t.Fatalf("%d bytes sent for %d pings through a routing loop, want at most %d", after-before, pings, bound)
	}
	// Each ping's datagram came back once and was counted.
	if v := metricValue(scrapeMetrics(t, a.NS), series); v < pings || v > 2*pings {
		t.Fatalf("%s = %v after %d looping pings, want %d to %d", series, v, pings, pings, 2*pings)
	}
	if a.Exited() {
		t.Fatal("daemon exited")
	}
	// Without the loop route the tunnel works again.
	a.NS.MustRun("ip", "route", "del", endpoint, "dev", a.Iface)
	if out, err := a.NS.Run("ping", "-n", "-c", "1", "-W", "5", target); err != nil {
		t.Fatalf("ping after the loop: %v\n%s", err, out)
	}
}

// TestWireGuardInsideWireGuard carries a second tunnel inside the first:
// its endpoint is the outer peer's tunnel address, so its datagrams go
// through the outer tunnel. They leave from the inner daemon's port to an
// address that is no endpoint of the outer tunnel's peers, so the
// routing-loop guard must let them pass.
func TestWireGuardInsideWireGuard(t *testing.T) {
	impl := implUnderTest(t)
	a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true})
	innerA := &Node{Daemon: StartDaemon(t, a.NS, impl), Key: GenKey(t), Port: 52001}
	innerB := &Node{Daemon: StartDaemon(t, b.NS, impl), Key: GenKey(t), Port: 52002}
	innerB.SetConf(fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = %d\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.215.1.1/32\n",
		innerB.Key.Private, innerB.Port, innerA.Key.Public))
	innerA.SetConf(fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = %d\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.215.1.2/32\nEndpoint = %s:%d\n",
		innerA.Key.Private, innerA.Port, innerB.Key.Public, b.Inner4.Addr(), innerB.Port))
	innerA.Up("10.215.1.1/24")
	innerB.Up("10.215.1.2/24")
	p := StartPinger(t, a.NS, "10.215.1.2")
	start := time.Now()
	Eventually(t, 15*time.Second, "replies through the inner tunnel", func() (bool, string) {
		return p.RepliesSince(start) >= 3, p.Output()
	})
	if got, want := innerB.Endpoint(innerA.Key.Public), fmt.Sprintf("%s:%d", a.Inner4.Addr(), innerA.Port); got != want {
		t.Fatalf("inner B sees inner A at %s, want %s (inside the outer tunnel)", got, want)
	}
	rx, _ := b.Transfer(a.Key.Public)
	t.Logf("outer tunnel carried %d bytes to B for the inner one", rx)
}
