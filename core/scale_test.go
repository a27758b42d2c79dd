// SPDX-License-Identifier: MIT

package core_test

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
)

// scalePeers builds a change set of n peers, each with one /32 and one
// /128, without X25519 (random public keys are fine: nothing handshakes).
func scalePeers(n int) core.Config {
	c := core.Config{ReplacePeers: true, Peers: make([]core.PeerConfig, n)}
	for i := range c.Peers {
		var pub noise.PublicKey
		pub[0], pub[1], pub[2], pub[3], pub[31] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24), 1
		v4 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		var b16 [16]byte
		b16[0], b16[1], b16[12], b16[13], b16[14], b16[15] = 0xfd, 0x01, byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		ep := netip.AddrPortFrom(v4, 51820)
		c.Peers[i] = core.PeerConfig{PublicKey: pub, Endpoint: &ep, ReplaceAllowedIPs: true, AllowedIPs: []core.AllowedIPChange{
			{Prefix: netip.PrefixFrom(v4, 32)}, {Prefix: netip.PrefixFrom(netip.AddrFrom16(b16), 128)},
		}}
	}
	return c
}

// TestPeerMemoryAndApplyTime reports the heap per idle peer and the time
// to apply a large change set. It asserts only what must hold on any
// machine (everything applied, listed back); the figures are for the
// benchmark notes (go test -run PeerMemory -v ./core/).
func TestPeerMemoryAndApplyTime(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	nw := coretest.NewMemNetwork()
	a := newNode(t, nw, coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	if err := a.Tunnel.Apply(core.Config{PrivateKey: &a.Key}); err != nil {
		t.Fatal(err)
	}
	cfg := scalePeers(n)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	if err := a.Tunnel.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	applied := time.Since(start)
	cfg = core.Config{}
	runtime.GC()
	runtime.ReadMemStats(&after)
	start = time.Now()
	s := a.Tunnel.Snapshot()
	listed := time.Since(start)
	if len(s.Peers) != n {
		t.Fatalf("%d peers listed, want %d", len(s.Peers), n)
	}
	perPeer := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	t.Logf("%d peers: apply %v (%.1f µs/peer), snapshot %v, heap %.0f B/peer", n, applied, float64(applied.Microseconds())/float64(n), listed, perPeer)
	runtime.KeepAlive(s)
}
