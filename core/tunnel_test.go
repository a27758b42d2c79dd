// SPDX-License-Identifier: MIT

package core_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

func TestTunnelsExchangeBothWaysIPv4AndIPv6(t *testing.T) {
	for _, psk := range []bool{false, true} {
		t.Run(map[bool]string{false: "nopsk", true: "psk"}[psk], func(t *testing.T) {
			clock := coretest.NewFakeClock(epoch)
			a, b, _ := pair(t, clock, psk)
			send(t, a, b, "hello from a")
			send(t, b, a, "hello from b")
			// IPv6 inside.
			p6 := ipPacket(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2"), []byte("v6"))
			a.Dev.Inject(p6)
			expectPacket(t, b.Dev, p6)
			// Both sides record the handshake and count bytes.
			sa, sb := a.Tunnel.Snapshot(), b.Tunnel.Snapshot()
			if sa.Peers[0].LastHandshake.IsZero() || sb.Peers[0].LastHandshake.IsZero() {
				t.Fatal("last handshake time not recorded")
			}
			if sa.Peers[0].TxBytes == 0 || sb.Peers[0].RxBytes == 0 {
				t.Fatal("transfer counters not updated")
			}
			if got := sb.Peers[0].Endpoint; got != netip.MustParseAddrPort("192.0.2.1:51820") {
				t.Fatalf("responder learned endpoint %v", got)
			}
		})
	}
}

func TestRekeysRoamingAndUnallowedSource(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "first")
	send(t, b, a, "reply")

	// Three rekeys: each time the initiator's keypair passes
	// Rekey-After-Time, its next send starts a new handshake.
	for i := 0; i < 3; i++ {
		before := a.Tunnel.Stats().HandshakesCompleted
		advance(t, clock, core.RekeyAfterTime+time.Second, time.Second, nw, a, b)
		send(t, a, b, "after rekey time")
		waitFor(t, "a new handshake", func() bool { return a.Tunnel.Stats().HandshakesCompleted > before })
		send(t, a, b, "on the new keypair")
		send(t, b, a, "back on the new keypair")
	}
	if got := a.Tunnel.Stats().HandshakesCompleted; got < 4 {
		t.Fatalf("handshakes completed = %d, want >= 4", got)
	}

	// Roaming: a's outer address changes; b follows the latest
	// authenticated packet and its replies reach a at the new address.
	a.Bind.SetAddr(netip.MustParseAddr("192.0.2.77"))
	send(t, a, b, "from the new address")
	waitFor(t, "b's endpoint for a to follow", func() bool {
		return b.Tunnel.Snapshot().Peers[0].Endpoint == netip.MustParseAddrPort("192.0.2.77:51820")
	})
	send(t, b, a, "to the new address")

	// A source address outside a's allowed IPs (as b sees them) is dropped
	// after decryption.
	drops := b.Tunnel.Stats().Drops[core.DropUnallowedSrc]
	a.Dev.Inject(ipPacket(netip.MustParseAddr("10.0.0.99"), b.Inner, []byte("spoofed")))
	waitFor(t, "the unallowed source to be dropped", func() bool {
		return b.Tunnel.Stats().Drops[core.DropUnallowedSrc] > drops
	})
	expectNoPacket(t, b.Dev, 50*time.Millisecond)
}

func TestHandshakeRetryJitterAndGiveUp(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	nw := coretest.NewMemNetwork()
	a := newNode(t, nw, clock, "192.0.2.1", "10.0.0.1")
	ghost := mustKey(t).PublicKey()
	nowhere := netip.MustParseAddrPort("192.0.2.9:9") // nobody listens
	if err := a.Tunnel.Apply(core.Config{PrivateKey: &a.Key, Peers: []core.PeerConfig{{
		PublicKey: ghost, Endpoint: &nowhere,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.9.0.0/16")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", func() bool { return a.Tunnel.IsUp() })
	a.Dev.Inject(ipPacket(a.Inner, netip.MustParseAddr("10.9.0.1"), []byte("x")))
	waitFor(t, "first initiation", func() bool { return a.Tunnel.Stats().InitiationsSent == 1 })
	st, _ := a.Tunnel.PeerStateForTest(ghost)
	if st.Staged != 1 {
		t.Fatalf("staged = %d, want 1", st.Staged)
	}
	// Each retry comes Rekey-Timeout plus at most 333 ms of jitter after
	// the previous one. Walk the clock in 5 ms steps and time them.
	const step = 5 * time.Millisecond
	sent := uint64(1)
	last := clock.Now()
	var jitters []time.Duration
	for sent < uint64(core.MaxTimerHandshakes)+1 {
		clock.Advance(step)
		if got := a.Tunnel.Stats().InitiationsSent; got != sent {
			gap := clock.Now().Sub(last)
			if gap < core.RekeyTimeout || gap > core.RekeyTimeout+core.RekeyTimeoutJitterMax+step {
				t.Fatalf("retry %d after %v, want Rekey-Timeout + [0, 333ms]", got, gap)
			}
			jitters = append(jitters, gap-core.RekeyTimeout)
			sent, last = got, clock.Now()
		}
		if clock.Now().Sub(epoch) > 2*core.RekeyAttemptTime {
			t.Fatal("retries stalled")
		}
	}
	distinct := map[time.Duration]bool{}
	for _, j := range jitters {
		distinct[j/step] = true
	}
	if len(distinct) < 3 {
		t.Fatalf("retry gaps show no jitter: %v", jitters)
	}
	// After Rekey-Attempt-Time the peer gives up and drops what waited.
	if elapsed := last.Sub(epoch); elapsed < core.RekeyAttemptTime-core.RekeyTimeout || elapsed > core.RekeyAttemptTime+6*time.Second {
		t.Fatalf("last retry at %v, want about Rekey-Attempt-Time", elapsed)
	}
	clock.Advance(core.RekeyTimeout + core.RekeyTimeoutJitterMax)
	s := a.Tunnel.Stats()
	if s.HandshakesFailed != 1 {
		t.Fatalf("handshakes failed = %d, want 1", s.HandshakesFailed)
	}
	if st, _ := a.Tunnel.PeerStateForTest(ghost); st.Staged != 0 {
		t.Fatalf("staged packets kept after giving up: %d", st.Staged)
	}
	clock.Advance(time.Minute)
	if got := a.Tunnel.Stats().InitiationsSent; got != sent {
		t.Fatalf("kept retrying after giving up: %d initiations", got)
	}
}

func TestKeepaliveTimers(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "data")
	settle(t, nw, a, b)
	// b received data and sent nothing: after Keepalive-Timeout it sends an
	// empty packet.
	before := b.Tunnel.Stats().KeepalivesSent
	advance(t, clock, core.KeepaliveTimeout-time.Millisecond, 100*time.Millisecond, nw, a, b)
	if b.Tunnel.Stats().KeepalivesSent != before {
		t.Fatal("keepalive before Keepalive-Timeout")
	}
	advance(t, clock, 2*time.Millisecond, time.Millisecond, nw, a, b)
	if got := b.Tunnel.Stats().KeepalivesSent; got != before+1 {
		t.Fatalf("passive keepalives = %d, want %d", got, before+1)
	}

	// Persistent keepalive every 3 s on an idle tunnel.
	if err := a.Tunnel.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: b.Pub, UpdateOnly: true, PersistentKeepalive: u16(3)}}}); err != nil {
		t.Fatal(err)
	}
	settle(t, nw, a, b)
	base := a.Tunnel.Stats().KeepalivesSent
	rx := b.Tunnel.Snapshot().Peers[0].RxBytes
	advance(t, clock, 30*time.Second+time.Millisecond, 100*time.Millisecond, nw, a, b)
	if got := a.Tunnel.Stats().KeepalivesSent - base; got != 10 {
		t.Fatalf("persistent keepalives in 30 s = %d, want 10", got)
	}
	if got := b.Tunnel.Snapshot().Peers[0].RxBytes - rx; got != 10*32 {
		t.Fatalf("peer received %d bytes of keepalives, want %d", got, 10*32)
	}
}

func TestKeyZeroingAfterRejectAfterTimeTimesThree(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "data")
	send(t, b, a, "data")
	if st, _ := a.Tunnel.PeerStateForTest(b.Pub); !st.HasCur {
		t.Fatal("no current keypair after a handshake")
	}
	advance(t, clock, core.ZeroKeyMaterialTimeout-time.Second, 200*time.Millisecond, nw, a, b)
	if st, _ := a.Tunnel.PeerStateForTest(b.Pub); !st.HasCur {
		t.Fatal("keys zeroed too early")
	}
	advance(t, clock, 2*time.Second, 200*time.Millisecond, nw, a, b)
	for _, n := range []*node{a, b} {
		other := b.Pub
		if n == b {
			other = a.Pub
		}
		st, _ := n.Tunnel.PeerStateForTest(other)
		if st.HasPrev || st.HasCur || st.HasNxt || st.HandshakeInProgress {
			t.Fatalf("keys left after zeroing: %+v", st)
		}
		if c := n.Tunnel.IndexCountForTest(); c != 0 {
			t.Fatalf("%d session indices left after zeroing", c)
		}
	}
	// And the tunnel still works: a new handshake on demand.
	send(t, a, b, "after zeroing")
}

func TestExpiredKeypairIsNotUsed(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "data")
	send(t, b, a, "data")
	// Cut the network so no new handshake can finish, then pass
	// Reject-After-Time: nothing may be sent with the old keys.
	nw.SetFilter(func(from, to netip.AddrPort, pkt []byte) bool { return false })
	advance(t, clock, core.RejectAfterTime+time.Second, time.Second, nw, a, b)
	sent := a.Tunnel.Stats().TxPackets
	a.Dev.Inject(ipPacket(a.Inner, b.Inner, []byte("late")))
	waitFor(t, "a handshake attempt", func() bool {
		st, _ := a.Tunnel.PeerStateForTest(b.Pub)
		return st.Staged == 1
	})
	settle(t, nw, a, b)
	if a.Tunnel.Stats().TxPackets != sent {
		t.Fatal("a packet was sent on an expired keypair")
	}
}

func TestKeyStoreCalledOncePerHandshakeAfterCaching(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "1")
	send(t, b, a, "1")
	settle(t, nw, a, b)
	a0, b0 := a.Tunnel.Stats().KeyStoreCalls, b.Tunnel.Stats().KeyStoreCalls
	i0 := a.Tunnel.Stats().InitiationsSent
	const rounds = 5
	for i := 0; i < rounds; i++ {
		before := a.Tunnel.Stats().HandshakesCompleted
		advance(t, clock, core.RekeyAfterTime+time.Second, time.Second, nw, a, b)
		send(t, a, b, "rekey")
		waitFor(t, "handshake", func() bool { return a.Tunnel.Stats().HandshakesCompleted > before })
		settle(t, nw, a, b)
	}
	if got := a.Tunnel.Stats().InitiationsSent - i0; got != rounds {
		t.Fatalf("%d initiations for %d rekeys", got, rounds)
	}
	if got := b.Tunnel.Stats().InitiationsSent; got != 0 {
		t.Fatalf("responder initiated %d handshakes", got)
	}
	// The static-static DH is cached per peer; what remains is one
	// static-key DH per handshake on each side (initiator: se, responder: es).
	if got := a.Tunnel.Stats().KeyStoreCalls - a0; got != rounds {
		t.Fatalf("initiator asked the key store %d times for %d handshakes", got, rounds)
	}
	if got := b.Tunnel.Stats().KeyStoreCalls - b0; got != rounds {
		t.Fatalf("responder asked the key store %d times for %d handshakes", got, rounds)
	}
}

func TestCookieReplyUnderLoad(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, _ := pair(t, clock, false)
	b.Tunnel.SetUnderLoad(true)
	a.Dev.Inject(ipPacket(a.Inner, b.Inner, []byte("x")))
	waitFor(t, "cookie reply", func() bool {
		return b.Tunnel.Stats().CookieRepliesSent >= 1 && a.Tunnel.Stats().CookieRepliesReceived >= 1
	})
	// The retry carries MAC2 and is accepted.
	clock.Advance(core.RekeyTimeout + core.RekeyTimeoutJitterMax)
	waitFor(t, "handshake with cookie", func() bool { return a.Tunnel.Stats().HandshakesCompleted >= 1 })
	send(t, a, b, "through")
}

func TestApplyIsAtomic(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	squatter := nw.NewBind(netip.MustParseAddr("192.0.2.1"))
	if _, _, err := squatter.Open(51999); err != nil {
		t.Fatal(err)
	}
	before := a.Tunnel.Snapshot()
	newPeer := mustKey(t).PublicKey()
	bad := []core.Config{
		{Peers: []core.PeerConfig{{PublicKey: newPeer, AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.5.0.0/16")}}}, {PublicKey: mustKey(t).PublicKey(), AllowedIPs: []core.AllowedIPChange{{}}}}},
		{ListenPort: u16(51999), Peers: []core.PeerConfig{{PublicKey: newPeer}}}, // taken below
		{Peers: []core.PeerConfig{{PublicKey: newPeer, ProtocolVersion: 2}}},
		{Peers: []core.PeerConfig{{PublicKey: b.Pub, AllowedIPs: []core.AllowedIPChange{{}}}}},
		{PrivateKey: &a.Key, KeyStore: core.NewMemoryKeyStore(a.Key)},
	}
	for i, c := range bad {
		err := a.Tunnel.Apply(c)
		if err == nil {
			t.Fatalf("change set %d accepted", i)
		}
		if !errors.Is(err, core.ErrInvalidConfig) && !errors.Is(err, core.ErrPortInUse) {
			t.Fatalf("change set %d: error %v has no kind", i, err)
		}
		after := a.Tunnel.Snapshot()
		if len(after.Peers) != len(before.Peers) || after.ListenPort != before.ListenPort {
			t.Fatalf("change set %d half-applied: %+v", i, after)
		}
	}
	send(t, a, b, "still works")
}

func TestApplySemantics(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, _ := pair(t, clock, false)
	p2 := mustKey(t).PublicKey()
	pfx := netip.MustParsePrefix
	// Add a peer, then move one prefix to it, remove one, replace.
	must := func(c core.Config) {
		t.Helper()
		if err := a.Tunnel.Apply(c); err != nil {
			t.Fatal(err)
		}
	}
	must(core.Config{Peers: []core.PeerConfig{{PublicKey: p2, AllowedIPs: []core.AllowedIPChange{{Prefix: pfx("10.7.0.1/24")}, {Prefix: pfx("10.8.0.0/16")}}}}})
	s := a.Tunnel.Snapshot()
	if len(s.Peers) != 2 || s.Peers[1].PublicKey != p2 {
		t.Fatalf("peers: %+v", s.Peers)
	}
	if got := s.Peers[1].AllowedIPs; len(got) != 2 || got[0] != pfx("10.7.0.0/24") {
		t.Fatalf("allowed IPs not masked/kept: %v", got)
	}
	must(core.Config{Peers: []core.PeerConfig{{PublicKey: p2, UpdateOnly: true, AllowedIPs: []core.AllowedIPChange{{Prefix: pfx("10.8.0.0/16"), Remove: true}}}}})
	if got := a.Tunnel.Snapshot().Peers[1].AllowedIPs; len(got) != 1 {
		t.Fatalf("remove one prefix: %v", got)
	}
	// update_only on an unknown peer adds nothing.
	must(core.Config{Peers: []core.PeerConfig{{PublicKey: mustKey(t).PublicKey(), UpdateOnly: true}}})
	if n := len(a.Tunnel.Snapshot().Peers); n != 2 {
		t.Fatalf("update_only added a peer: %d", n)
	}
	// replace_peers keeps only the named ones.
	must(core.Config{ReplacePeers: true, Peers: []core.PeerConfig{{PublicKey: b.Pub, ReplaceAllowedIPs: true, AllowedIPs: []core.AllowedIPChange{{Prefix: pfx("10.0.0.2/32")}}}}})
	s = a.Tunnel.Snapshot()
	if len(s.Peers) != 1 || s.Peers[0].PublicKey != b.Pub || len(s.Peers[0].AllowedIPs) != 1 {
		t.Fatalf("replace_peers: %+v", s.Peers)
	}
	// remove.
	must(core.Config{Peers: []core.PeerConfig{{PublicKey: b.Pub, Remove: true}}})
	if n := len(a.Tunnel.Snapshot().Peers); n != 0 {
		t.Fatalf("remove left %d peers", n)
	}
	// A peer with the interface's own key is refused silently, as wg does.
	must(core.Config{Peers: []core.PeerConfig{{PublicKey: a.Pub}}})
	if n := len(a.Tunnel.Snapshot().Peers); n != 0 {
		t.Fatal("interface became its own peer")
	}
	// Private key removal and snapshot of it.
	zero := core.PrivateKey{}
	must(core.Config{PrivateKey: &zero})
	if s := a.Tunnel.Snapshot(); s.PrivateKey != nil || !s.PublicKey.IsZero() {
		t.Fatal("private key not removed")
	}
}

func TestGarbageOnTheWireIsDropped(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "ok")
	evil := nw.NewBind(netip.MustParseAddr("192.0.2.66"))
	if _, _, err := evil.Open(666); err != nil {
		t.Fatal(err)
	}
	ep, _ := evil.ParseEndpoint("192.0.2.2:51821")
	for _, g := range [][]byte{nil, {1}, {4, 0, 0, 0}, make([]byte, 148), make([]byte, 92), make([]byte, 64), make([]byte, 32), make([]byte, 1500), {1, 0, 0, 0, 9, 9}} {
		evil.Send([][]byte{g}, ep)
	}
	waitFor(t, "drops counted", func() bool {
		s := b.Tunnel.Stats()
		return s.Drops[core.DropMalformed]+s.Drops[core.DropHandshake]+s.Drops[core.DropNoKey] >= 6
	})
	send(t, a, b, "still fine")
}
