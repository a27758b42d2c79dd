// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"testing"
	"time"
)

// TestTunnelWgplexToWgplex runs the implementation under test on both ends,
// over each underlay family, with and without a preshared key, and checks
// both inner families and a bulk TCP transfer.
func TestTunnelWgplexToWgplex(t *testing.T) {
	impl := implUnderTest(t)
	for _, tc := range []struct {
		name      string
		ipv6, psk bool
	}{
		{"underlay=ipv4/psk=off", false, false},
		{"underlay=ipv4/psk=on", false, true},
		{"underlay=ipv6/psk=off", true, false},
		{"underlay=ipv6/psk=on", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := NewPair(t, impl, impl, PairConfig{
				IPv6Underlay: tc.ipv6, PSK: tc.psk, AKnowsB: true, BKnowsA: true,
			})
			Ping(t, a.NS, b.Inner4.Addr().String(), 3)
			Ping(t, a.NS, b.Inner6.Addr().String(), 3)
			Ping(t, b.NS, a.Inner4.Addr().String(), 3)
			Ping(t, b.NS, a.Inner6.Addr().String(), 3)
			if got := b.Endpoint(a.Key.Public); got != a.UnderlayEndpoint(tc.ipv6) {
				t.Errorf("B sees A at %q, want %q", got, a.UnderlayEndpoint(tc.ipv6))
			}
			res := Iperf(t, a.NS, b.NS, b.Inner4.Addr().String(), 3)
			t.Logf("%s<->%s %s: iperf3 TCP 3s %.2f Gbit/s (%d bytes, %d retransmits)",
				impl.Name, impl.Name, tc.name, res.Gbps, res.Bytes, res.Retransmits)
		})
	}
}

// TestInteropWithWireguardGo pairs the implementation under test with
// wireguard-go, each side taking the initiator role in turn. Only the
// initiator is given its peer's endpoint, so the other side cannot start
// the handshake and has to learn where to answer from the initiation.
func TestInteropWithWireguardGo(t *testing.T) {
	impl, ref := implUnderTest(t), implReference(t)
	for _, tc := range []struct {
		name                 string
		initiator, responder Impl
	}{
		{"under-test-initiates", impl, ref},
		{"reference-initiates", ref, impl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini, rsp := NewPair(t, tc.initiator, tc.responder, PairConfig{AKnowsB: true, PSK: true})
			Ping(t, ini.NS, rsp.Inner4.Addr().String(), 3)
			ini.WaitHandshake(rsp.Key.Public, 5*time.Second)
			rsp.WaitHandshake(ini.Key.Public, 5*time.Second)
			if got, want := rsp.Endpoint(ini.Key.Public), ini.UnderlayEndpoint(false); got != want {
				t.Errorf("responder learned endpoint %q, want %q", got, want)
			}
			Ping(t, ini.NS, rsp.Inner6.Addr().String(), 3)
			Ping(t, rsp.NS, ini.Inner4.Addr().String(), 3)
			Ping(t, rsp.NS, ini.Inner6.Addr().String(), 3)
			fwd := Iperf(t, ini.NS, rsp.NS, rsp.Inner4.Addr().String(), 1)
			rev := Iperf(t, rsp.NS, ini.NS, ini.Inner6.Addr().String(), 1)
			t.Logf("iperf3 1s %s->%s %.2f Gbit/s, %s->%s %.2f Gbit/s",
				tc.initiator.Name, tc.responder.Name, fwd.Gbps, tc.responder.Name, tc.initiator.Name, rev.Gbps)
			LogShow(t, ini, rsp)
		})
	}
}
