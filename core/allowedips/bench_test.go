// SPDX-License-Identifier: MIT

package allowedips

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
)

// peer stands in for the engine's peer: the table holds pointers to it.
type peer struct{ id int }

// benchPrefixes returns n random prefixes of one family with a mix of
// lengths like a real configuration: mostly hosts, some subnets.
func benchPrefixes(rng *rand.Rand, n int, v6 bool) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		var a netip.Addr
		if v6 {
			var b [16]byte
			binary.BigEndian.PutUint64(b[:8], rng.Uint64())
			binary.BigEndian.PutUint64(b[8:], rng.Uint64())
			a = netip.AddrFrom16(b)
		} else {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], rng.Uint32())
			a = netip.AddrFrom4(b)
		}
		bits := a.BitLen()
		switch r := rng.IntN(10); {
		case r < 2 && v6:
			bits = 64
		case r < 2:
			bits = 24
		case r < 3:
			bits = 8 + rng.IntN(a.BitLen()-8)
		}
		out[i] = netip.PrefixFrom(a, bits).Masked()
	}
	return out
}

func BenchmarkLookupBytes(b *testing.B) {
	for _, fam := range []string{"v4", "v6"} {
		for _, n := range []int{1_000, 100_000} {
			b.Run(fmt.Sprintf("%s/%dk", fam, n/1000), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(uint64(n), 7))
				ps := benchPrefixes(rng, n, fam == "v6")
				var tab Table[*peer]
				for i, p := range ps {
					tab.Insert(p, &peer{id: i})
				}
				// Addresses inside random prefixes, so that every lookup
				// walks to a match, as packets for configured peers do.
				const probes = 1 << 14
				addrs := make([][]byte, probes)
				for i := range addrs {
					addrs[i] = randomIn(rng, ps[rng.IntN(len(ps))]).AsSlice()
				}
				b.ReportAllocs()
				var hits, i int
				for b.Loop() {
					if _, ok := tab.LookupBytes(addrs[i&(probes-1)]); ok {
						hits++
					}
					i++
				}
				if hits != i {
					b.Fatalf("%d of %d lookups missed", i-hits, i)
				}
			})
		}
	}
}

// hubPrefixes is a large hub's configuration: peer i owns one IPv4 host
// and one IPv6 host address.
func hubPrefixes(peers int) [][2]netip.Prefix {
	out := make([][2]netip.Prefix, peers)
	for i := range out {
		var b4 [4]byte
		binary.BigEndian.PutUint32(b4[:], 10<<24|uint32(i))
		var b6 [16]byte
		b6[0], b6[1] = 0xfd, 0x00
		binary.BigEndian.PutUint32(b6[12:], uint32(i))
		out[i] = [2]netip.Prefix{
			netip.PrefixFrom(netip.AddrFrom4(b4), 32),
			netip.PrefixFrom(netip.AddrFrom16(b6), 128),
		}
	}
	return out
}

func buildHub(ps [][2]netip.Prefix, peers []*peer) *Table[*peer] {
	tab := new(Table[*peer])
	for i, pp := range ps {
		tab.Insert(pp[0], peers[i])
		tab.Insert(pp[1], peers[i])
	}
	return tab
}

// BenchmarkInsert builds a table for 100k peers with two prefixes each and
// reports the heap the finished table holds per prefix (value index
// included, peers themselves not).
func BenchmarkInsert(b *testing.B) {
	const n = 100_000
	ps := hubPrefixes(n)
	peers := make([]*peer, n)
	for i := range peers {
		peers[i] = &peer{id: i}
	}
	b.ReportAllocs()
	for b.Loop() {
		buildHub(ps, peers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/(2*n), "ns/prefix")
	b.ReportMetric(heapPerPrefix(func() (any, int) { return buildHub(ps, peers), 2 * n }), "B/prefix")
}

// BenchmarkRemoveValue removes peers one by one from a 100k-peer table and
// puts them back, the churn of peers being reconfigured.
func BenchmarkRemoveValue(b *testing.B) {
	const n = 100_000
	ps := hubPrefixes(n)
	peers := make([]*peer, n)
	for i := range peers {
		peers[i] = &peer{id: i}
	}
	tab := buildHub(ps, peers)
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		i := rng.IntN(n)
		tab.RemoveValue(peers[i])
		tab.Insert(ps[i][0], peers[i])
		tab.Insert(ps[i][1], peers[i])
	}
}

// heapPerPrefix measures the live heap that build's result holds, divided
// by the number of prefixes in it.
func heapPerPrefix(build func() (any, int)) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t, n := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(t)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestMemoryPerPrefix logs the memory figure for the hub layout and the
// random layout, and guards against a regression that would bloat nodes.
func TestMemoryPerPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds large tables")
	}
	const n = 100_000
	ps := hubPrefixes(n)
	peers := make([]*peer, n)
	for i := range peers {
		peers[i] = &peer{id: i}
	}
	hub := heapPerPrefix(func() (any, int) { return buildHub(ps, peers), 2 * n })
	rng := rand.New(rand.NewPCG(3, 3))
	rnd := append(benchPrefixes(rng, n, false), benchPrefixes(rng, n, true)...)
	random := heapPerPrefix(func() (any, int) {
		tab := new(Table[*peer])
		for i, p := range rnd {
			tab.Insert(p, peers[i/2])
		}
		return tab, tab.Len()
	})
	t.Logf("heap per prefix: %.0f B (100k peers x v4/32 + v6/128), %.0f B (200k random prefixes, 2 per value)", hub, random)
	if hub > 400 || random > 400 {
		t.Errorf("memory per prefix above 400 bytes")
	}
}
