package core_test

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
)

// node is one Tunnel on the in-memory network.
type node struct {
	tun   *core.Tunnel
	dev   *coretest.MemDevice
	bind  *coretest.MemBind
	key   core.PrivateKey
	pub   core.PublicKey
	inner netip.Addr
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustKey(t testing.TB) core.PrivateKey {
	t.Helper()
	k, err := generateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newNode(t testing.TB, nw *coretest.MemNetwork, clock core.Clock, outer, inner string) *node {
	t.Helper()
	n := &node{
		dev:   coretest.NewMemDevice("wgt", 1420),
		bind:  nw.NewBind(netip.MustParseAddr(outer)),
		key:   mustKey(t),
		inner: netip.MustParseAddr(inner),
	}
	n.pub = n.key.PublicKey()
	var log *slog.Logger
	if os.Getenv("WGPLEX_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", outer)
	}
	tun, err := core.NewTunnel(core.Options{Device: n.dev, Bind: n.bind, Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	n.tun = tun
	t.Cleanup(func() { tun.Close() })
	return n
}

func u16(v uint16) *uint16 { return &v }

// pair builds two connected nodes: a knows b's endpoint, b learns a's from
// the handshake. Each allows exactly the other's inner address.
func pair(t testing.TB, clock core.Clock, psk bool) (a, b *node, nw *coretest.MemNetwork) {
	t.Helper()
	nw = coretest.NewMemNetwork()
	a = newNode(t, nw, clock, "192.0.2.1", "10.0.0.1")
	b = newNode(t, nw, clock, "192.0.2.2", "10.0.0.2")
	var k *core.PresharedKey
	if psk {
		pk := core.PresharedKey(mustKey(t))
		k = &pk
	}
	bEP := netip.MustParseAddrPort("192.0.2.2:51821")
	if err := a.tun.Apply(core.Config{PrivateKey: &a.key, ListenPort: u16(51820), Peers: []core.PeerConfig{{
		PublicKey: b.pub, Endpoint: &bEP, PresharedKey: k,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}, {Prefix: netip.MustParsePrefix("fd00::2/128")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.tun.Apply(core.Config{PrivateKey: &b.key, ListenPort: u16(51821), Peers: []core.PeerConfig{{
		PublicKey: a.pub, PresharedKey: k,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}, {Prefix: netip.MustParsePrefix("fd00::1/128")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both tunnels up", func() bool {
		return a.tun.IsUp() && b.tun.IsUp()
	})
	return a, b, nw
}

// ipPacket builds a minimal IPv4 or IPv6 packet (UDP protocol number, no
// real UDP header needed by the engine) with the given payload.
func ipPacket(src, dst netip.Addr, payload []byte) []byte {
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

// waitFor polls cond until it holds or a 5 s deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// expectPacket waits for want to come out of dev.
func expectPacket(t testing.TB, dev *coretest.MemDevice, want []byte) {
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

// expectNoPacket checks that nothing comes out of dev for a short while.
func expectNoPacket(t testing.TB, dev *coretest.MemDevice, d time.Duration) {
	t.Helper()
	select {
	case got := <-dev.Outbound():
		t.Fatalf("unexpected packet of %d bytes delivered", len(got))
	case <-time.After(d):
	}
}

// send injects a packet from a to b's inner address and checks it arrives.
func send(t testing.TB, from, to *node, payload string) {
	t.Helper()
	pkt := ipPacket(from.inner, to.inner, []byte(payload))
	if !from.dev.Inject(pkt) {
		t.Fatal("inject failed")
	}
	expectPacket(t, to.dev, pkt)
}

func generateKey() (core.PrivateKey, error) { return noise.GeneratePrivateKey() }

// settle waits until no packet or handshake is in flight anywhere.
func settle(t testing.TB, nw *coretest.MemNetwork, nodes ...*node) {
	t.Helper()
	waitFor(t, "quiescence", func() bool {
		if !nw.Idle() {
			return false
		}
		for _, n := range nodes {
			if !n.dev.Idle() || !n.tun.Idle() {
				return false
			}
		}
		return nw.Idle()
	})
}

// advance moves the fake clock by d in steps, letting the asynchronous
// work each step starts finish before the next, as real time would.
func advance(t testing.TB, clock *coretest.FakeClock, d, step time.Duration, nw *coretest.MemNetwork, nodes ...*node) {
	t.Helper()
	settle(t, nw, nodes...)
	for d > 0 {
		s := min(step, d)
		clock.Advance(s)
		d -= s
		settle(t, nw, nodes...)
	}
}
