// SPDX-License-Identifier: MIT

package interop

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// TestHandshakeAndData runs a full session for every combination of who
// initiates, with and without a preshared key, over IPv4 and IPv6 outer
// addresses: the initiator's first packet arrives, then IPv4 and IPv6
// inner packets cross in both directions, and both sides record the
// handshake.
func TestHandshakeAndData(t *testing.T) {
	for _, outer6 := range []bool{false, true} {
		for _, withPSK := range []bool{false, true} {
			for _, initiator := range []string{"wgplex", "wireguard-go"} {
				name := fmt.Sprintf("outer=%s/psk=%v/initiator=%s", family(outer6), withPSK, initiator)
				t.Run(name, func(t *testing.T) {
					if outer6 {
						requireIPv6Loopback(t)
					}
					runSession(t, outer6, withPSK, initiator == "wgplex")
				})
			}
		}
	}
}

func family(ipv6 bool) string {
	if ipv6 {
		return "ipv6"
	}
	return "ipv4"
}

func runSession(t *testing.T, outer6, withPSK, wgplexInitiates bool) {
	w := newWgplex(t, nil)
	r := newRef(t)
	var psk *core.PresharedKey
	if withPSK {
		k := core.PresharedKey(newKey(t))
		psk = &k
	}
	connect(t, w, r, outer6, psk)

	// The first packet waits for the handshake it triggers.
	if wgplexInitiates {
		wgplexToRef(t, w, r, false, "first from wgplex", waitTimeout)
	} else {
		refToWgplex(t, w, r, false, "first from wireguard-go", waitTimeout)
	}
	for _, inner6 := range []bool{false, true} {
		for i := range 3 {
			wgplexToRef(t, w, r, inner6, fmt.Sprintf("wgplex %s #%d", family(inner6), i), waitTimeout)
			refToWgplex(t, w, r, inner6, fmt.Sprintf("wireguard-go %s #%d", family(inner6), i), waitTimeout)
		}
	}

	// Both count every byte of the session, handshake included, alike.
	settle(t, w, r)
	if w.lastHandshake(t).IsZero() {
		t.Error("wgplex reports no handshake")
	}
	if r.lastHandshake(t).IsZero() {
		t.Error("wireguard-go reports no handshake")
	}
	if wgplexInitiates {
		w.expectStats(t, "1 initiation sent, 1 response received, 1 handshake", func(st core.Stats) bool {
			return st.InitiationsSent == 1 && st.ResponsesReceived == 1 && st.HandshakesCompleted == 1
		})
	} else {
		w.expectStats(t, "1 initiation received, 1 response sent, 1 handshake", func(st core.Stats) bool {
			return st.InitiationsReceived == 1 && st.ResponsesSent == 1 && st.HandshakesCompleted == 1
		})
	}
	st := w.tun.Stats()
	snap := w.tun.Snapshot()
	if ep := snap.Peers[0].Endpoint; ep.Addr() != outerAddr(outer6) || ep.Port() != r.port {
		t.Errorf("wgplex has peer endpoint %v, want %v port %d", ep, outerAddr(outer6), r.port)
	}
	if snap.Peers[0].RxBytes == 0 || snap.Peers[0].TxBytes == 0 {
		t.Errorf("wgplex peer counters not moving: rx %d tx %d", snap.Peers[0].RxBytes, snap.Peers[0].TxBytes)
	}
	if got, want := r.get(t)["endpoint"], netip.AddrPortFrom(outerAddr(outer6), w.port).String(); got != want {
		t.Errorf("wireguard-go has endpoint %q for wgplex, want %q", got, want)
	}
	t.Logf("wgplex snapshot: %s", formatSnapshot(snap))
	t.Logf("wgplex stats: %+v", st)
	t.Logf("wireguard-go IpcGet:\n%s", redactPrivate(r.ipcGet(t)))
}

// TestPresharedKeyMismatch checks that the preshared key really enters the
// handshake on both sides: with a PSK on one side only, the initiation is
// accepted (it does not depend on the PSK) but the response is not.
func TestPresharedKeyMismatch(t *testing.T) {
	t.Run("initiator=wgplex", func(t *testing.T) {
		w := newWgplex(t, nil)
		r := newRef(t)
		k := core.PresharedKey(newKey(t))
		connect(t, w, r, false, nil)
		// Only wgplex gets the PSK.
		if err := w.tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: r.pub, UpdateOnly: true, PresharedKey: &k}}}); err != nil {
			t.Fatal(err)
		}
		if !w.dev.Inject(udpPacket(wgplexInner4, refInner4, 1, 2, []byte("never"))) {
			t.Fatal("wgplex device queue full")
		}
		waitFor(t, waitTimeout, "wgplex to reject wireguard-go's response", func() bool {
			return w.tun.Stats().Drops[core.DropHandshake] > 0
		})
		st := w.tun.Stats()
		if st.HandshakesCompleted != 0 || !w.lastHandshake(t).IsZero() {
			t.Errorf("wgplex completed a handshake despite the PSK mismatch: %+v", st)
		}
		if !r.log.contains("Sending handshake response") {
			t.Error("wireguard-go did not answer the initiation")
		}
	})
	t.Run("initiator=wireguard-go", func(t *testing.T) {
		w := newWgplex(t, nil)
		r := newRef(t)
		k := core.PresharedKey(newKey(t))
		connect(t, w, r, false, &k)
		// Only wgplex keeps the PSK.
		r.ipcSet(t, fmt.Sprintf("public_key=%s\nupdate_only=true\npreshared_key=%s\n", w.pub.Hex(), core.PresharedKey{}.Hex()))
		r.inject(t, udpPacket(refInner4, wgplexInner4, 2, 1, []byte("never")))
		waitFor(t, waitTimeout, "wireguard-go to reject wgplex's response", func() bool {
			return r.log.contains("Received invalid response message")
		})
		w.expectStats(t, "1 response sent, no handshake completed", func(st core.Stats) bool {
			return st.ResponsesSent == 1 && st.HandshakesCompleted == 0
		})
		if !r.lastHandshake(t).IsZero() {
			t.Error("wireguard-go reports a handshake despite the PSK mismatch")
		}
	})
}
