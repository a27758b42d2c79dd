// SPDX-License-Identifier: MIT

package core_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// The all-zero public key is a valid peer key, as in the kernel: it can be
// configured, listed and removed, and every handshake with it stops at the
// all-zero Diffie-Hellman result, so nothing is ever sent to it.
func TestZeroPublicKeyPeerIsAcceptedButNeverHandshakes(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	nw := coretest.NewMemNetwork()
	a := newNode(t, nw, clock, "192.0.2.1", "10.0.0.1")
	b := newNode(t, nw, clock, "192.0.2.2", "10.0.0.2")
	var zero core.PublicKey
	bEP := netip.MustParseAddrPort("192.0.2.2:51821")
	if err := b.Tunnel.Apply(core.Config{PrivateKey: &b.Key, ListenPort: u16(51821)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Tunnel.Apply(core.Config{PrivateKey: &a.Key, ListenPort: u16(51820), Peers: []core.PeerConfig{{
		PublicKey: zero, Endpoint: &bEP, PersistentKeepalive: u16(1),
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}},
	}}}); err != nil {
		t.Fatalf("zero public key refused: %v", err)
	}
	waitFor(t, "a up", a.Tunnel.IsUp)
	snap := a.Tunnel.Snapshot()
	if len(snap.Peers) != 1 || !snap.Peers[0].PublicKey.IsZero() {
		t.Fatalf("peers after adding the zero key: %+v", snap.Peers)
	}
	a.Dev.Inject(ipPacket(a.Inner, b.Inner, []byte("to nobody")))
	advance(t, clock, 3*core.RekeyTimeout, 100*time.Millisecond, nw, a, b)
	if got := a.Tunnel.Stats().InitiationsSent; got != 0 {
		t.Fatalf("%d initiations sent to the zero key", got)
	}
	if got := b.Tunnel.Stats().InitiationsReceived; got != 0 {
		t.Fatalf("b received %d initiations", got)
	}
	if st := a.Tunnel.Snapshot().Peers[0].State; st != core.PeerIdle {
		t.Fatalf("zero-key peer state %v, want idle", st)
	}
	if err := a.Tunnel.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: zero, Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	if n := len(a.Tunnel.Snapshot().Peers); n != 0 {
		t.Fatalf("%d peers after removing the zero key", n)
	}
}

// An unreachable peer gives up after Rekey-Attempt-Time, reads as idle
// once it has, and counts the failure, with or without a persistent
// keepalive, and keepalives never push initiations closer together than
// Rekey-Timeout or past the per-round bound.
func TestHandshakeGiveUpStateAndFailuresWithKeepalive(t *testing.T) {
	for _, ka := range []uint16{0, 1, 5, 25} {
		t.Run(fmt.Sprintf("keepalive=%d", ka), func(t *testing.T) {
			clock := coretest.NewFakeClock(epoch)
			nw := coretest.NewMemNetwork()
			a := newNode(t, nw, clock, "192.0.2.1", "10.0.0.1")
			ghost := mustKey(t).PublicKey()
			nowhere := netip.MustParseAddrPort("192.0.2.9:9")
			if err := a.Tunnel.Apply(core.Config{PrivateKey: &a.Key, Peers: []core.PeerConfig{{
				PublicKey: ghost, Endpoint: &nowhere, PersistentKeepalive: u16(ka),
				AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.9.0.0/16")}},
			}}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "up", a.Tunnel.IsUp)
			if ka == 0 {
				a.Dev.Inject(ipPacket(a.Inner, netip.MustParseAddr("10.9.0.1"), []byte("x")))
			}
			waitFor(t, "first initiation", func() bool { return a.Tunnel.Stats().InitiationsSent == 1 })
			if st := a.Tunnel.Snapshot().Peers[0].State; st != core.PeerHandshaking {
				t.Fatalf("state %v during the handshake, want handshaking", st)
			}
			const step = 50 * time.Millisecond
			sent, last := uint64(1), clock.Now()
			inRound := uint64(1)
			failed := uint64(0)
			sawIdle := false
			// Long enough for two rounds and the pause between them.
			horizon := 2*(core.RekeyAttemptTime+3*core.RekeyTimeout) + time.Duration(ka)*time.Second
			for clock.Now().Sub(epoch) < horizon {
				clock.Advance(step)
				settle(t, nw, a)
				s := a.Tunnel.Stats()
				if s.InitiationsSent != sent {
					if s.InitiationsSent != sent+1 {
						t.Fatalf("%d initiations in one %v step", s.InitiationsSent-sent, step)
					}
					if gap := clock.Now().Sub(last); gap < core.RekeyTimeout {
						t.Fatalf("initiation %d only %v after the previous one", s.InitiationsSent, gap)
					}
					sent, last = s.InitiationsSent, clock.Now()
					inRound++
					if inRound > uint64(core.MaxTimerHandshakes)+1 {
						t.Fatalf("%d initiations in one round, want at most %d", inRound, core.MaxTimerHandshakes+1)
					}
				}
				if s.HandshakesFailed != failed {
					failed = s.HandshakesFailed
					if st := a.Tunnel.Snapshot().Peers[0].State; st != core.PeerIdle {
						t.Fatalf("state %v after giving up, want idle", st)
					}
					if ps, _ := a.Tunnel.PeerStateForTest(ghost); ps.HandshakeInProgress || ps.Staged != 0 {
						t.Fatalf("after giving up: %+v", ps)
					}
					sawIdle = true
					inRound = 0
				}
			}
			if !sawIdle || failed == 0 {
				t.Fatalf("no failed handshake counted in %v (%d initiations)", horizon, sent)
			}
			if ka == 0 {
				// Without demand or keepalive nothing starts a new round.
				if failed != 1 {
					t.Fatalf("failures = %d, want 1", failed)
				}
				return
			}
			// A persistent keepalive keeps trying, one round after another,
			// each counted when it fails.
			if failed < 2 {
				t.Fatalf("failures = %d with keepalive %d s, want a second round to fail too", failed, ka)
			}
		})
	}
}
