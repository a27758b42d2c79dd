// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins"
)

// memNode is a core.Tunnel on the in-memory network of core/coretest.
type memNode struct {
	tun   *core.Tunnel
	dev   *coretest.MemDevice
	inner netip.Addr
	pub   core.PublicKey
}

func newMemNode(t *testing.T, nw *coretest.MemNetwork, clock core.Clock, outer, inner string, ks core.KeyStore) *memNode {
	t.Helper()
	n := &memNode{dev: coretest.NewMemDevice("wgt", 1420), inner: netip.MustParseAddr(inner)}
	tun, err := core.NewTunnel(core.Options{Device: n.dev, Bind: nw.NewBind(netip.MustParseAddr(outer)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	n.tun = tun
	if err := tun.Apply(core.Config{KeyStore: ks}); err != nil {
		t.Fatal(err)
	}
	n.pub = ks.PublicKey()
	// Packets read while the interface is still down are dropped; the
	// device reports "up" asynchronously.
	coretest.WaitFor(t, "tunnel up", tun.IsUp)
	return n
}

// settleAll waits until nothing is in flight on the network, the devices
// or in the engines, so that a fake clock can move on as real time would.
func settleAll(t *testing.T, nw *coretest.MemNetwork, nodes ...*memNode) {
	t.Helper()
	coretest.WaitFor(t, "quiescence", func() bool {
		for _, n := range nodes {
			if !n.dev.Idle() || !n.tun.Idle() {
				return false
			}
		}
		return nw.Idle()
	})
}

// connect makes b a peer of a, reachable at ep if ep is valid.
func connect(t *testing.T, a, b *memNode, port uint16, ep netip.AddrPort) {
	t.Helper()
	pc := core.PeerConfig{
		PublicKey:  b.pub,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.PrefixFrom(b.inner, 32)}},
	}
	if ep.IsValid() {
		pc.Endpoint = &ep
	}
	if err := a.tun.Apply(core.Config{ListenPort: &port, Peers: []core.PeerConfig{pc}}); err != nil {
		t.Fatal(err)
	}
}

// ipv4 builds a minimal IPv4 packet from src to dst.
func ipv4(src, dst netip.Addr, payload string) []byte {
	return coretest.IPPacket(src, dst, []byte(payload))
}

// deliver injects a packet into from's device and waits for it at to's.
// The engine retries a lost handshake itself; the test does not re-inject.
func deliver(t *testing.T, from, to *memNode, payload string) {
	t.Helper()
	pkt := ipv4(from.inner, to.inner, payload)
	if !from.dev.Inject(pkt) {
		t.Fatal("inject failed")
	}
	coretest.ExpectPacket(t, to.dev, pkt)
}

// TestTunnelsThroughFileVault runs two tunnels on the in-memory network,
// one of them keyed by the file vault plugin: they handshake and exchange
// packets; the vault is killed with SIGKILL mid-session, the session keeps
// working, and once the vault is back a rekey forced by the clock
// completes through it.
func TestTunnelsThroughFileVault(t *testing.T) {
	key := newTestKey(t)
	cfg := fastConfig(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, key, 0o600))
	kv := startFileVault(t, cfg)

	clock := coretest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nw := coretest.NewMemNetwork()
	bKey := newTestKey(t)
	a := newMemNode(t, nw, clock, "192.0.2.1", "10.0.0.1", kv)
	b := newMemNode(t, nw, clock, "192.0.2.2", "10.0.0.2", core.NewMemoryKeyStore(core.PrivateKey(bKey.priv)))
	connect(t, a, b, 51820, netip.MustParseAddrPort("192.0.2.2:51821"))
	connect(t, b, a, 51821, netip.AddrPort{})

	if snap := a.tun.Snapshot(); snap.PublicKey != core.PublicKey(key.pub) || snap.PrivateKey != nil {
		t.Fatalf("snapshot: public %s (want %s), private key shown: %v", snap.PublicKey, core.PublicKey(key.pub), snap.PrivateKey != nil)
	}
	// A private key may not be set while the vault is in charge.
	other := core.PrivateKey(bKey.priv)
	if err := a.tun.Apply(core.Config{PrivateKey: &other}); !errors.Is(err, core.ErrKeyManaged) {
		t.Fatalf("private key while a vault is in charge: %v, want ErrKeyManaged", err)
	}

	deliver(t, a, b, "a to b through the vault")
	deliver(t, b, a, "b to a")
	if a.tun.Stats().KeyStoreCalls == 0 {
		t.Fatal("the vault was never asked")
	}

	pid := kv.Plugin().Pid()
	syscall.Kill(pid, syscall.SIGKILL)
	// The established session does not need the vault.
	deliver(t, a, b, "after kill -9")
	deliver(t, b, a, "after kill -9, back")
	eventually(t, 10*time.Second, "vault restart", func() bool { return kv.Plugin().Up() && kv.Plugin().Pid() != pid })

	before := a.tun.Stats().HandshakesCompleted
	for range 125 {
		clock.Advance(time.Second)
		settleAll(t, nw, a, b)
	}
	deliver(t, a, b, "after the rekey time")
	eventually(t, 10*time.Second, "a new handshake through the restarted vault", func() bool {
		return a.tun.Stats().HandshakesCompleted > before
	})
	deliver(t, a, b, "on the new keypair")
	deliver(t, b, a, "on the new keypair, back")
	if kv.Plugin().Restarts() == 0 {
		t.Fatal("restart not counted")
	}
}

// BenchmarkDH compares one static-key X25519 through the file vault
// plugin (gRPC over a Unix socket with mutual TLS) with the in-memory key
// store. A handshake needs two of them per side after the first (the
// static-static result is cached per peer), so the added handshake
// latency is about twice the difference.
func BenchmarkDH(b *testing.B) {
	key := newTestKey(b)
	peer := core.PublicKey(newTestKey(b).pub)
	b.Run("memory", func(b *testing.B) {
		ks := core.NewMemoryKeyStore(core.PrivateKey(key.priv))
		for b.Loop() {
			if _, err := ks.DH(peer); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file-vault", func(b *testing.B) {
		cfg := fastConfig(b, pluginBin(b, "keyvault-file"), "-key", writeKeyFile(b, key, 0o600))
		cfg.HealthInterval = time.Hour
		kv, err := plugins.StartKeyVault(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer kv.Close()
		for b.Loop() {
			if _, err := kv.DH(peer); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandshake measures a complete handshake between two tunnels on
// the in-memory network, from the first packet to its delivery: both peers
// are removed and added back before every round, so each round runs a
// fresh handshake with no cached static-static result (two DH calls per
// side through the key store, the worst case). Only side A's key store
// varies.
func BenchmarkHandshake(b *testing.B) {
	key := newTestKey(b)
	b.Run("memory", func(b *testing.B) {
		benchHandshake(b, core.NewMemoryKeyStore(core.PrivateKey(key.priv)))
	})
	b.Run("file-vault", func(b *testing.B) {
		cfg := fastConfig(b, pluginBin(b, "keyvault-file"), "-key", writeKeyFile(b, key, 0o600))
		cfg.HealthInterval = time.Hour
		kv, err := plugins.StartKeyVault(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer kv.Close()
		benchHandshake(b, kv)
	})
}

func benchHandshake(b *testing.B, ks core.KeyStore) {
	nw := coretest.NewMemNetwork()
	a := newBenchNode(b, nw, "192.0.2.1", "10.0.0.1", ks)
	peerKey := newTestKey(b)
	c := newBenchNode(b, nw, "192.0.2.2", "10.0.0.2", core.NewMemoryKeyStore(core.PrivateKey(peerKey.priv)))
	bEP := netip.MustParseAddrPort("192.0.2.2:51821")
	pa, pc := uint16(51820), uint16(51821)
	link := func(remove bool) {
		if err := a.tun.Apply(core.Config{ListenPort: &pa, Peers: []core.PeerConfig{{PublicKey: c.pub, Remove: remove, Endpoint: &bEP,
			AllowedIPs: []core.AllowedIPChange{{Prefix: netip.PrefixFrom(c.inner, 32)}}}}}); err != nil {
			b.Fatal(err)
		}
		if err := c.tun.Apply(core.Config{ListenPort: &pc, Peers: []core.PeerConfig{{PublicKey: a.pub, Remove: remove,
			AllowedIPs: []core.AllowedIPChange{{Prefix: netip.PrefixFrom(a.inner, 32)}}}}}); err != nil {
			b.Fatal(err)
		}
	}
	// Configure only once both devices have come up.
	deadline := time.Now().Add(5 * time.Second)
	for !a.tun.IsUp() || !c.tun.IsUp() {
		if time.Now().After(deadline) {
			b.Fatal("tunnels not up")
		}
		time.Sleep(time.Millisecond)
	}
	pkt := ipv4(a.inner, c.inner, "ping")
	for b.Loop() {
		b.StopTimer()
		link(true)
		link(false)
		b.StartTimer()
		a.dev.Inject(pkt)
		// Hammering handshakes can put the responder under load, and a
		// cookie reply costs the initiator a 5 s retry: allow for one.
		timeout := time.After(15 * time.Second)
	wait:
		for {
			select {
			case got := <-c.dev.Outbound():
				if string(got) == string(pkt) {
					break wait
				}
			case <-timeout:
				b.Fatal("no handshake within 15s")
			}
		}
	}
}

func newBenchNode(b *testing.B, nw *coretest.MemNetwork, outer, inner string, ks core.KeyStore) *memNode {
	n := &memNode{dev: coretest.NewMemDevice("wgb", 1420), inner: netip.MustParseAddr(inner)}
	var log *slog.Logger
	if os.Getenv("WGPLEX_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", outer)
	}
	tun, err := core.NewTunnel(core.Options{Device: n.dev, Bind: nw.NewBind(netip.MustParseAddr(outer)), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tun.Close() })
	n.tun = tun
	if err := tun.Apply(core.Config{KeyStore: ks}); err != nil {
		b.Fatal(err)
	}
	n.pub = ks.PublicKey()
	return n
}
