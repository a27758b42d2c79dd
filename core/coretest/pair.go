// SPDX-License-Identifier: MIT

package coretest

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/aead"
	"github.com/wgplex/wgplex/core/noise"
)

// Node is one core.Tunnel on a MemNetwork, with its device, bind and keys.
type Node struct {
	Tunnel *core.Tunnel
	Dev    *MemDevice
	Bind   *MemBind
	Key    core.PrivateKey
	Pub    core.PublicKey
	// Inner is the node's address inside the tunnel.
	Inner netip.Addr
}

// Epoch is a fixed start time for FakeClocks in tests.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewKey returns a fresh private key or fails the test.
func NewKey(t testing.TB) core.PrivateKey {
	t.Helper()
	k, err := noise.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// NewNode starts a tunnel at outer (underlay) with inner as its tunnel
// address. log may be nil. The tunnel is closed when the test ends.
func NewNode(t testing.TB, nw *MemNetwork, clock core.Clock, outer, inner string, log *slog.Logger) *Node {
	t.Helper()
	n := &Node{
		Dev:   NewMemDevice("wgt", 1420),
		Bind:  nw.NewBind(netip.MustParseAddr(outer)),
		Key:   NewKey(t),
		Inner: netip.MustParseAddr(inner),
	}
	n.Pub = n.Key.PublicKey()
	// WGPLEX_CRYPTO picks the crypto mode as it does for the daemon, so
	// that a whole suite can run again in the mode the CPU count does not
	// choose.
	mode, err := core.ParseCryptoMode(os.Getenv("WGPLEX_CRYPTO"))
	if err != nil {
		t.Fatal(err)
	}
	// WGPLEX_AEAD likewise picks the AEAD implementation.
	aeadMode, err := aead.ParseMode(os.Getenv("WGPLEX_AEAD"))
	if err != nil {
		t.Fatal(err)
	}
	aead.SetMode(aeadMode)
	tun, err := core.NewTunnel(core.Options{Device: n.Dev, Bind: n.Bind, Clock: clock, Logger: log, Crypto: mode})
	if err != nil {
		t.Fatal(err)
	}
	n.Tunnel = tun
	t.Cleanup(func() { tun.Close() })
	return n
}

// Pair builds two connected nodes, 192.0.2.1:51820 (10.0.0.1, fd00::1) and
// 192.0.2.2:51821 (10.0.0.2, fd00::2): a knows b's endpoint, b learns a's
// from the handshake; each allows exactly the other's inner addresses. With
// psk both share a fresh pre-shared key. log may be nil.
func Pair(t testing.TB, clock core.Clock, psk bool, log func(outer string) *slog.Logger) (a, b *Node, nw *MemNetwork) {
	t.Helper()
	nw = NewMemNetwork()
	logFor := func(outer string) *slog.Logger {
		if log == nil {
			return nil
		}
		return log(outer)
	}
	a = NewNode(t, nw, clock, "192.0.2.1", "10.0.0.1", logFor("192.0.2.1"))
	b = NewNode(t, nw, clock, "192.0.2.2", "10.0.0.2", logFor("192.0.2.2"))
	var k *core.PresharedKey
	if psk {
		pk := core.PresharedKey(NewKey(t))
		k = &pk
	}
	portA, portB := uint16(51820), uint16(51821)
	bEP := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), portB)
	if err := a.Tunnel.Apply(core.Config{PrivateKey: &a.Key, ListenPort: &portA, Peers: []core.PeerConfig{{
		PublicKey: b.Pub, Endpoint: &bEP, PresharedKey: k,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}, {Prefix: netip.MustParsePrefix("fd00::2/128")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Tunnel.Apply(core.Config{PrivateKey: &b.Key, ListenPort: &portB, Peers: []core.PeerConfig{{
		PublicKey: a.Pub, PresharedKey: k,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}, {Prefix: netip.MustParsePrefix("fd00::1/128")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, "both tunnels up", func() bool { return a.Tunnel.IsUp() && b.Tunnel.IsUp() })
	return a, b, nw
}

// IPPacket builds a minimal IPv4 or IPv6 packet (protocol UDP; the engine
// reads only the addresses and lengths) carrying payload.
func IPPacket(src, dst netip.Addr, payload []byte) []byte {
	if src.Is4() {
		p := make([]byte, 20+len(payload))
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		p[8], p[9] = 64, 17
		s, d := src.As4(), dst.As4()
		copy(p[12:], s[:])
		copy(p[16:], d[:])
		copy(p[20:], payload)
		return p
	}
	p := make([]byte, 40+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6], p[7] = 17, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	copy(p[40:], payload)
	return p
}

// WaitFor polls cond until it holds, failing the test after 5 s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// ExpectPacket waits for want to come out of dev, skipping other packets.
func ExpectPacket(t testing.TB, dev *MemDevice, want []byte) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-dev.Outbound():
			if string(got) == string(want) {
				return
			}
		case <-timeout:
			t.Fatalf("packet of %d bytes did not arrive", len(want))
		}
	}
}

// ExpectNoPacket checks that nothing comes out of dev for d.
func ExpectNoPacket(t testing.TB, dev *MemDevice, d time.Duration) {
	t.Helper()
	select {
	case got := <-dev.Outbound():
		t.Fatalf("unexpected packet of %d bytes delivered", len(got))
	case <-time.After(d):
	}
}

// Send injects a packet from one node to the other's inner address and
// waits until it comes out of the other's device.
func Send(t testing.TB, from, to *Node, payload string) {
	t.Helper()
	pkt := IPPacket(from.Inner, to.Inner, []byte(payload))
	if !from.Dev.Inject(pkt) {
		t.Fatal("inject failed")
	}
	ExpectPacket(t, to.Dev, pkt)
}

// Settle waits until no datagram, injected packet or engine job is in
// flight anywhere.
func Settle(t testing.TB, nw *MemNetwork, nodes ...*Node) {
	t.Helper()
	WaitFor(t, "quiescence", func() bool {
		if !nw.Idle() {
			return false
		}
		for _, n := range nodes {
			if !n.Dev.Idle() || !n.Tunnel.Idle() {
				return false
			}
		}
		return nw.Idle()
	})
}

// Advance moves clock by d in steps, letting the asynchronous work each
// step starts finish before the next, as real time would.
func Advance(t testing.TB, clock *FakeClock, d, step time.Duration, nw *MemNetwork, nodes ...*Node) {
	t.Helper()
	Settle(t, nw, nodes...)
	for d > 0 {
		s := min(step, d)
		clock.Advance(s)
		d -= s
		Settle(t, nw, nodes...)
	}
}
