// SPDX-License-Identifier: MIT

package plugins

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// memTunnel is an in-memory stand-in for core.Tunnel's configuration API,
// so that a fleet of any size can be applied without the engine: peers,
// their prefixes and a generation that moves when something changes.
type memTunnel struct {
	mu    sync.Mutex
	pub   core.PublicKey
	peers map[core.PublicKey]*memPeer
	seq   uint64
	gen   uint64
	ch    chan struct{}
}

type memPeer struct {
	seq      uint64
	allowed  []netip.Prefix
	endpoint netip.AddrPort
	psk      core.PresharedKey
	ka       uint16
}

func newMemTunnel(pub core.PublicKey) *memTunnel {
	return &memTunnel{pub: pub, peers: make(map[core.PublicKey]*memPeer)}
}

func (m *memTunnel) Apply(c core.Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for i := range c.Peers {
		pc := &c.Peers[i]
		p := m.peers[pc.PublicKey]
		if pc.Remove {
			if p != nil {
				delete(m.peers, pc.PublicKey)
				changed = true
			}
			continue
		}
		if p == nil {
			if pc.UpdateOnly || pc.PublicKey == m.pub {
				continue
			}
			m.seq++
			p = &memPeer{seq: m.seq}
			m.peers[pc.PublicKey] = p
		}
		changed = true
		if pc.ReplaceAllowedIPs {
			p.allowed = p.allowed[:0]
		}
		for _, a := range pc.AllowedIPs {
			p.allowed = append(p.allowed, a.Prefix)
		}
		if pc.Endpoint != nil {
			p.endpoint = *pc.Endpoint
		}
		if pc.PresharedKey != nil {
			p.psk = *pc.PresharedKey
		}
		if pc.PersistentKeepalive != nil {
			p.ka = *pc.PersistentKeepalive
		}
	}
	if changed {
		m.gen++
		if m.ch != nil {
			close(m.ch)
			m.ch = nil
		}
	}
	return nil
}

func (m *memTunnel) Snapshot() core.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := core.Snapshot{PublicKey: m.pub, Peers: make([]core.PeerSnapshot, 0, len(m.peers))}
	for k, p := range m.peers {
		s.Peers = append(s.Peers, core.PeerSnapshot{PublicKey: k, AllowedIPs: append([]netip.Prefix(nil), p.allowed...),
			Endpoint: p.endpoint, PresharedKey: p.psk, PersistentKeepalive: p.ka})
	}
	return s
}

func (m *memTunnel) Generation() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

func (m *memTunnel) Changed(gen uint64) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		c := make(chan struct{})
		close(c)
		return c
	}
	if m.ch == nil {
		m.ch = make(chan struct{})
	}
	return m.ch
}

func (m *memTunnel) Identity() (core.PublicKey, uint16) { return m.pub, 51820 }

func (m *memTunnel) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.peers)
}

// fleetSim is a fleet of simulated nodes: node i has a key made from i,
// an endpoint and prefixes of its own, so that no two nodes overlap. It
// publishes into and withdraws from an in-memory registry that feeds a
// real peer book, as a discovery plugin's stream would.
type fleetSim struct {
	prefixes int // per node
	registry map[core.PublicKey]sdk.Record
	book     *peerBook
	tun      *memTunnel
}

func newFleetSim(prefixes int) *fleetSim {
	var self core.PublicKey
	self[0] = 0xff
	tun := newMemTunnel(self)
	b := newPeerBook(slog.New(slog.DiscardHandler), tun, []netip.Prefix{netip.MustParsePrefix("100.64.0.1/32")}, "", nil)
	b.gate = newTrustGate(TrustPolicy{})
	return &fleetSim{prefixes: prefixes, registry: make(map[core.PublicKey]sdk.Record), book: b, tun: tun}
}

// node is the record of simulated node i.
func (f *fleetSim) node(i int) sdk.Record {
	var k sdk.Key
	binary.BigEndian.PutUint32(k[:], uint32(i)+1)
	k[31] = 0x42
	r := sdk.Record{PublicKey: k, Name: fmt.Sprintf("node%d", i),
		Endpoints: []string{netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 51820).String()}}
	// Node i owns a block of f.prefixes consecutive /32s in 10.0.0.0/8
	// (beyond 16M addresses, in 11.0.0.0/8 and on).
	base := uint32(10<<24) + uint32(i)*uint32(f.prefixes)
	for j := 0; j < f.prefixes; j++ {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], base+uint32(j))
		r.AllowedIPs = append(r.AllowedIPs, netip.PrefixFrom(netip.AddrFrom4(a), 32))
	}
	return r
}

// start publishes nodes 0..n-1 and delivers them as one snapshot.
func (f *fleetSim) start(n int) {
	recs := make([]sdk.Record, n)
	for i := range recs {
		recs[i] = f.node(i)
		f.registry[core.PublicKey(recs[i].PublicKey)] = recs[i]
	}
	f.book.snapshot(recs)
}

// publish adds or changes node i's record in the registry.
func (f *fleetSim) publish(r sdk.Record) {
	f.registry[core.PublicKey(r.PublicKey)] = r
	f.book.upsert(r)
}

// withdraw takes node i's record out of the registry.
func (f *fleetSim) withdraw(i int) {
	k := f.node(i).PublicKey
	delete(f.registry, core.PublicKey(k))
	f.book.remove(k)
}

// The simulator's fleet ends up in the tunnel whole, joins and leaves
// one node at a time, and a record overlapping another node's prefixes
// is refused, through the per-record path.
func TestFleetSimJoinLeave(t *testing.T) {
	f := newFleetSim(4)
	f.start(500)
	if n := f.tun.count(); n != 500 {
		t.Fatalf("%d peers after the snapshot of 500", n)
	}
	if !f.book.viewCurrent() {
		t.Fatal("the book's view of the tunnel is stale after its own snapshot")
	}
	f.publish(f.node(500))
	if n := f.tun.count(); n != 501 {
		t.Fatalf("%d peers after a join", n)
	}
	f.withdraw(17)
	if n := f.tun.count(); n != 500 {
		t.Fatalf("%d peers after a leave", n)
	}
	// Node 17's prefixes are held for it: another key cannot take them...
	thief := f.node(9000)
	thief.AllowedIPs = f.node(17).AllowedIPs[:1]
	f.publish(thief)
	if f.book.owned[core.PublicKey(thief.PublicKey)] != nil {
		t.Fatal("a record claiming a held prefix was accepted")
	}
	// ...nor node 3's, which it has now, even inside a wider prefix.
	wide := f.node(9001)
	wide.AllowedIPs = []netip.Prefix{netip.PrefixFrom(f.node(3).AllowedIPs[0].Addr(), 24).Masked()}
	f.publish(wide)
	if f.book.owned[core.PublicKey(wide.PublicKey)] != nil {
		t.Fatal("a record overlapping another node's prefix was accepted")
	}
	// Node 17 comes back and takes its own prefixes again.
	f.publish(f.node(17))
	if f.book.owned[core.PublicKey(f.node(17).PublicKey)] == nil {
		t.Fatal("a node could not take back its own held prefixes")
	}
	if n := f.tun.count(); n != 501 {
		t.Fatalf("%d peers, want 501", n)
	}
	if !f.book.viewCurrent() {
		t.Fatal("the book's view went stale through its own changes")
	}
	// A change made by someone else is noticed and reconciled in full.
	if err := f.tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: core.PublicKey(f.node(5).PublicKey), Remove: true}}}); err != nil {
		t.Fatal(err)
	}
	if !f.book.tunnelChanged() {
		t.Fatal("a peer removed by someone else went unnoticed")
	}
	if n := f.tun.count(); n != 501 {
		t.Fatalf("%d peers after the removed one came back, want 501", n)
	}
}

// benchmark one node joining and leaving beside a fleet of n nodes of
// prefixes each; the joining node has as many prefixes.
func benchJoinLeave(b *testing.B, n, prefixes int) {
	f := newFleetSim(prefixes)
	f.start(n)
	if got := f.tun.count(); got != n {
		b.Fatalf("%d peers after the snapshot of %d", got, n)
	}
	joiner := f.node(n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.publish(joiner)
		f.withdraw(n)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/event")
	if got := f.tun.count(); got != n {
		b.Fatalf("%d peers at the end, want %d", got, n)
	}
}

// BenchmarkDiscoveryEvent is the cost of one record event (an op is one
// join and one leave) beside fleets of growing size.
func BenchmarkDiscoveryEvent(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) { benchJoinLeave(b, n, 1) })
	}
	b.Run("records=40x1024prefixes", func(b *testing.B) { benchJoinLeave(b, 40, 1024) })
}

// BenchmarkDiscoverySnapshot is the first snapshot of a fleet applied to
// an empty tunnel.
func BenchmarkDiscoverySnapshot(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f := newFleetSim(1)
				recs := make([]sdk.Record, n)
				for j := range recs {
					recs[j] = f.node(j)
				}
				b.StartTimer()
				f.book.snapshot(recs)
				b.StopTimer()
				if got := f.tun.count(); got != n {
					b.Fatalf("%d peers after the snapshot of %d", got, n)
				}
			}
		})
	}
}
