// SPDX-License-Identifier: MIT

package core_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// TestKeypairsWipedOnRotationAndExpiry: a keypair's AEAD key state is zero
// in memory once rotation retires it, and once Reject-After-Time x 3 has
// passed every keypair and the unanswered initiation of a peer are zero
// too, on both sides.
func TestKeypairsWipedOnRotationAndExpiry(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, true)
	send(t, a, b, "1")
	settle(t, nw, a, b)
	sa, _ := a.Tunnel.PeerSecretsForTest(b.Pub)
	sb, _ := b.Tunnel.PeerSecretsForTest(a.Pub)
	first := append(sa.Keypairs(), sb.Keypairs()...)
	if len(first) != 2 {
		t.Fatalf("%d keypairs after one handshake, want one on each side", len(first))
	}
	for _, kp := range first {
		if kp.Wiped() {
			t.Fatal("a keypair in use reads as wiped")
		}
	}

	// Two rekeys move the first keypairs to "previous" and then out.
	for range 2 {
		before := a.Tunnel.Stats().HandshakesCompleted
		advance(t, clock, core.RekeyAfterTime+time.Second, time.Second, nw, a, b)
		send(t, a, b, "rekey")
		waitFor(t, "rekey", func() bool { return a.Tunnel.Stats().HandshakesCompleted > before })
		send(t, b, a, "confirm")
		settle(t, nw, a, b)
	}
	for _, kp := range first {
		waitFor(t, "retired keypair wiped", kp.Wiped)
	}

	// Cut the wire and make a start a handshake nobody answers.
	nw.SetFilter(func(from, to netip.AddrPort, pkt []byte) bool { return false })
	advance(t, clock, core.RekeyAfterTime+time.Second, time.Second, nw, a, b)
	a.Dev.Inject(ipPacket(a.Inner, b.Inner, []byte("lost")))
	var init core.InitiationForTest
	waitFor(t, "an unanswered initiation", func() bool {
		var ok bool
		init, ok = sa.Initiation()
		return ok
	})
	if init.Wiped() {
		t.Fatal("a live initiation reads as wiped")
	}
	live := append(sa.Keypairs(), sb.Keypairs()...)
	if len(live) == 0 {
		t.Fatal("no keypairs left before expiry")
	}
	advance(t, clock, core.ZeroKeyMaterialTimeout+time.Second, 5*time.Second, nw, a, b)
	for _, kp := range live {
		if !kp.Wiped() {
			t.Fatal("a keypair is not zero after Reject-After-Time x 3")
		}
	}
	if !init.Wiped() {
		t.Fatal("the initiation's secrets are not zero after Reject-After-Time x 3")
	}
	if n := len(sa.Keypairs()) + len(sb.Keypairs()); n != 0 {
		t.Fatalf("%d keypairs still in their slots", n)
	}
}

// TestSecretsWipedOnKeyChangeAndRemoval: a new private key clears the old
// one in memory, every cached static-static DH and every keypair; removing
// a peer clears its static-static DH, its preshared key and its keypairs.
func TestSecretsWipedOnKeyChangeAndRemoval(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, true)
	send(t, a, b, "1")
	settle(t, nw, a, b)

	sa, _ := a.Tunnel.PeerSecretsForTest(b.Pub)
	oldStore, ok := a.Tunnel.KeyStoreForTest().(*core.MemoryKeyStore)
	if !ok || oldStore.PrivateKey().IsZero() {
		t.Fatal("no in-memory key store holding a key")
	}
	if sa.StaticStatic() == ([32]byte{}) {
		t.Fatal("no cached static-static DH after a handshake")
	}
	kps := sa.Keypairs()
	newKey := mustKey(t)
	if err := a.Tunnel.Apply(core.Config{PrivateKey: &newKey}); err != nil {
		t.Fatal(err)
	}
	if !oldStore.PrivateKey().IsZero() {
		t.Error("old private key still in memory after a key change")
	}
	if sa.StaticStatic() != ([32]byte{}) {
		t.Error("static-static DH with the old key still cached")
	}
	for _, kp := range kps {
		waitFor(t, "keypairs of the old key wiped", kp.Wiped)
	}

	sb, _ := b.Tunnel.PeerSecretsForTest(a.Pub)
	if sb.StaticStatic() == ([32]byte{}) || sb.PresharedKey().IsZero() {
		t.Fatal("responder has no cached static-static DH or no preshared key")
	}
	kps = sb.Keypairs()
	if err := b.Tunnel.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: a.Pub, Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	if sb.StaticStatic() != ([32]byte{}) || !sb.PresharedKey().IsZero() {
		t.Error("static-static DH or preshared key of a removed peer still in memory")
	}
	for _, kp := range kps {
		waitFor(t, "keypairs of a removed peer wiped", kp.Wiped)
	}
}

// TestMemoryKeyStoreWipe: a wiped key store holds a zero key and refuses
// DH rather than computing with it.
func TestMemoryKeyStoreWipe(t *testing.T) {
	ks := core.NewMemoryKeyStore(mustKey(t))
	peer := mustKey(t).PublicKey()
	if _, err := ks.DH(peer); err != nil {
		t.Fatal(err)
	}
	ks.Wipe()
	if !ks.PrivateKey().IsZero() {
		t.Fatal("private key still in memory after Wipe")
	}
	if _, err := ks.DH(peer); err == nil {
		t.Fatal("DH with a wiped key succeeded")
	}
}
