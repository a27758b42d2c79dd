// SPDX-License-Identifier: MIT

package core_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// genTunnel is a tunnel on the in-memory ports, with no key. The
// in-memory device reports EventUp once at start, which brings the tunnel
// up (and moves the generation) on the tunnel's own goroutine; genTunnel
// waits for that, so that no later step sees a move it did not cause.
func genTunnel(t *testing.T) *core.Tunnel {
	t.Helper()
	nw := coretest.NewMemNetwork()
	tun, err := core.NewTunnel(core.Options{
		Device: coretest.NewMemDevice("wgg", 1420),
		Bind:   nw.NewBind(netip.MustParseAddr("192.0.2.9")),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	for deadline := time.Now().Add(5 * time.Second); !tun.IsUp(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the in-memory device's EventUp did not bring the tunnel up")
		}
	}
	// Up marks the tunnel up before it moves the generation, both under the
	// configuration lock; taking that lock (a no-op Up) waits for the move.
	if err := tun.Up(); err != nil {
		t.Fatal(err)
	}
	return tun
}

// expectChange fails unless the generation moves past gen within a
// deadline, and returns the new one.
func expectChange(t *testing.T, tun *core.Tunnel, gen uint64, what string) uint64 {
	t.Helper()
	select {
	case <-tun.Changed(gen):
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: generation still %d", what, gen)
	}
	n := tun.Generation()
	if n <= gen {
		t.Fatalf("%s: generation %d after %d", what, n, gen)
	}
	return n
}

// expectSame fails if the generation moved.
func expectSame(t *testing.T, tun *core.Tunnel, gen uint64, what string) {
	t.Helper()
	select {
	case <-tun.Changed(gen):
		t.Fatalf("%s: generation moved from %d to %d", what, gen, tun.Generation())
	default:
	}
}

func TestGenerationFollowsConfiguration(t *testing.T) {
	tun := genTunnel(t)
	gen := tun.Generation()

	priv := mustKey(t)
	if err := tun.Apply(core.Config{PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "private key set")
	if err := tun.Apply(core.Config{PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	expectSame(t, tun, gen, "same private key again")

	peer := mustKey(t).PublicKey()
	pc := core.PeerConfig{PublicKey: peer, AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}}}
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{pc}}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "peer added")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{pc}}); err != nil {
		t.Fatal(err)
	}
	expectSame(t, tun, gen, "peer restated unchanged")
	same := pc
	same.ReplaceAllowedIPs = true
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{same}}); err != nil {
		t.Fatal(err)
	}
	expectSame(t, tun, gen, "allowed IPs replaced by the same")

	ep := netip.MustParseAddrPort("192.0.2.7:51820")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: peer, Endpoint: &ep}}}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "endpoint set")
	ka := uint16(25)
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: peer, PersistentKeepalive: &ka}}}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "keepalive set")
	psk := core.PresharedKey(mustKey(t))
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: peer, PresharedKey: &psk}}}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "preshared key set")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: peer, ReplaceAllowedIPs: true}}}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "allowed IPs cleared")

	// A refused change set changes nothing, the generation included.
	bad := core.PeerConfig{PublicKey: peer, AllowedIPs: []core.AllowedIPChange{{}}}
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{bad}}); !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("invalid allowed IP: %v", err)
	}
	expectSame(t, tun, gen, "refused change set")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: mustKey(t).PublicKey(), UpdateOnly: true}}}); err != nil {
		t.Fatal(err)
	}
	expectSame(t, tun, gen, "update of an unknown peer")

	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: peer, Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "peer removed")
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: peer, Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	expectSame(t, tun, gen, "absent peer removed")

	port := uint16(0)
	mark := uint32(7)
	if err := tun.Apply(core.Config{FwMark: &mark, ListenPort: &port}); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "fwmark set")

	// The in-memory device brought the tunnel up (genTunnel).
	if tun.IsUp() {
		if err := tun.Down(); err != nil {
			t.Fatal(err)
		}
		gen = expectChange(t, tun, gen, "bind closed")
	}
	if err := tun.Up(); err != nil {
		t.Fatal(err)
	}
	gen = expectChange(t, tun, gen, "bind opened")
	if err := tun.Down(); err != nil {
		t.Fatal(err)
	}
	expectChange(t, tun, gen, "bind closed")
}

// Every waiter on one generation wakes, and a waiter that comes late (the
// change happened between reading the generation and waiting) does not
// block.
func TestGenerationWaiters(t *testing.T) {
	tun := genTunnel(t)
	gen := tun.Generation()
	const n = 8
	woke := make(chan uint64, n)
	for i := 0; i < n; i++ {
		go func() {
			g, err := tun.WaitChange(context.Background(), gen)
			if err != nil {
				g = 0
			}
			woke <- g
		}()
	}
	priv := mustKey(t)
	if err := tun.Apply(core.Config{PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		select {
		case g := <-woke:
			if g <= gen {
				t.Fatalf("waiter woke with generation %d, want past %d", g, gen)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d waiters still asleep", n-i, n)
		}
	}
	if _, err := tun.WaitChange(context.Background(), gen); err != nil {
		t.Fatalf("late waiter: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tun.WaitChange(ctx, tun.Generation()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := tun.WaitChange(context.Background(), tun.Generation())
		done <- err
	}()
	tun.Close()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, core.ErrClosed) {
			t.Fatalf("wait across Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter stayed asleep after Close")
	}
}
