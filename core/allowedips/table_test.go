// SPDX-License-Identifier: MIT

package allowedips

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

type op struct {
	insert string // prefix to map to v
	v      int
	remove string // prefix to Remove
	drop   int    // value to RemoveValue, when > 0
}

type probe struct {
	addr string
	v    int // 0: no match expected
}

func TestTable(t *testing.T) {
	tests := []struct {
		name   string
		ops    []op
		probes []probe
	}{
		{
			name:   "empty",
			probes: []probe{{"10.0.0.1", 0}, {"::1", 0}},
		},
		{
			name: "v4 most specific wins",
			ops: []op{
				{insert: "10.0.0.0/8", v: 1},
				{insert: "10.1.0.0/16", v: 2},
				{insert: "10.1.2.0/24", v: 3},
				{insert: "10.1.2.3/32", v: 4},
			},
			probes: []probe{
				{"10.9.9.9", 1}, {"10.1.9.9", 2}, {"10.1.2.9", 3}, {"10.1.2.3", 4},
				{"11.0.0.0", 0}, {"9.255.255.255", 0},
			},
		},
		{
			name: "v6 most specific wins",
			ops: []op{
				{insert: "2001:db8::/32", v: 1},
				{insert: "2001:db8:1::/48", v: 2},
				{insert: "2001:db8:1:2::/64", v: 3},
				{insert: "2001:db8:1:2::3/128", v: 4},
			},
			probes: []probe{
				{"2001:db8:ffff::1", 1}, {"2001:db8:1:ff::1", 2}, {"2001:db8:1:2::4", 3},
				{"2001:db8:1:2::3", 4}, {"2001:db9::", 0},
			},
		},
		{
			name: "insertion order does not matter",
			ops: []op{
				{insert: "10.1.2.3/32", v: 4},
				{insert: "10.1.2.0/24", v: 3},
				{insert: "10.0.0.0/8", v: 1},
				{insert: "10.1.0.0/16", v: 2},
			},
			probes: []probe{{"10.9.9.9", 1}, {"10.1.9.9", 2}, {"10.1.2.9", 3}, {"10.1.2.3", 4}},
		},
		{
			name: "default routes",
			ops: []op{
				{insert: "0.0.0.0/0", v: 1},
				{insert: "::/0", v: 2},
				{insert: "192.168.0.0/16", v: 3},
			},
			probes: []probe{
				{"8.8.8.8", 1}, {"255.255.255.255", 1}, {"0.0.0.0", 1}, {"192.168.4.4", 3},
				{"::", 2}, {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 2},
			},
		},
		{
			name: "hosts",
			ops: []op{
				{insert: "192.0.2.1/32", v: 1},
				{insert: "192.0.2.2/32", v: 2},
				{insert: "2001:db8::1/128", v: 3},
				{insert: "2001:db8::2/128", v: 4},
			},
			probes: []probe{
				{"192.0.2.1", 1}, {"192.0.2.2", 2}, {"192.0.2.3", 0}, {"192.0.2.0", 0},
				{"2001:db8::1", 3}, {"2001:db8::2", 4}, {"2001:db8::3", 0},
			},
		},
		{
			name: "host bits are masked off",
			ops: []op{
				{insert: "10.0.0.1/24", v: 1},
				{insert: "2001:db8::ff/64", v: 2},
			},
			probes: []probe{{"10.0.0.200", 1}, {"10.0.1.0", 0}, {"2001:db8::1234", 2}},
		},
		{
			name: "families are separate",
			ops: []op{
				{insert: "10.0.0.0/8", v: 1},
				{insert: "::ffff:192.168.0.0/112", v: 2},
			},
			probes: []probe{
				{"::ffff:10.0.0.1", 0}, {"192.168.1.1", 0}, {"::ffff:192.168.1.1", 2}, {"10.0.0.1", 1},
			},
		},
		{
			name: "replace a prefix's value",
			ops: []op{
				{insert: "10.0.0.0/24", v: 1},
				{insert: "10.0.0.0/24", v: 2},
				{insert: "10.0.0.9/24", v: 3},
			},
			probes: []probe{{"10.0.0.1", 3}},
		},
		{
			name: "remove one prefix leaves the others",
			ops: []op{
				{insert: "10.0.0.0/8", v: 1},
				{insert: "10.1.0.0/16", v: 2},
				{insert: "10.1.2.0/24", v: 3},
				{insert: "2001:db8::/32", v: 2},
				{remove: "10.1.0.0/16"},
				{remove: "10.1.0.0/17"}, // absent
				{remove: "2001:db8::/33"},
			},
			probes: []probe{{"10.1.9.9", 1}, {"10.1.2.9", 3}, {"10.2.0.0", 1}, {"2001:db8::1", 2}},
		},
		{
			name: "remove the leaf under a branch point",
			ops: []op{
				{insert: "10.0.0.0/24", v: 1},
				{insert: "10.0.1.0/24", v: 2},
				{remove: "10.0.1.0/24"},
			},
			probes: []probe{{"10.0.0.1", 1}, {"10.0.1.1", 0}},
		},
		{
			name: "remove value",
			ops: []op{
				{insert: "10.0.0.0/8", v: 1},
				{insert: "10.1.0.0/16", v: 2},
				{insert: "10.1.2.0/24", v: 1},
				{insert: "2001:db8::/32", v: 1},
				{insert: "2001:db8:1::/48", v: 2},
				{drop: 1},
			},
			probes: []probe{
				{"10.1.2.3", 2}, {"10.2.0.0", 0}, {"2001:db8:1::1", 2}, {"2001:db8:2::1", 0},
			},
		},
		{
			name: "remove everything",
			ops: []op{
				{insert: "0.0.0.0/0", v: 1},
				{insert: "10.0.0.0/8", v: 2},
				{insert: "::/0", v: 3},
				{drop: 2},
				{remove: "0.0.0.0/0"},
				{drop: 3},
			},
			probes: []probe{{"10.0.0.1", 0}, {"::1", 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tab Table[int]
			var ref reference
			for _, o := range tt.ops {
				switch {
				case o.insert != "":
					p := netip.MustParsePrefix(o.insert)
					tab.Insert(p, o.v)
					ref.insert(p, o.v)
				case o.remove != "":
					p := netip.MustParsePrefix(o.remove)
					if got, want := tab.Remove(p), ref.remove(p); got != want {
						t.Errorf("Remove(%v) = %v, want %v", p, got, want)
					}
				default:
					tab.RemoveValue(o.drop)
					ref.removeValue(o.drop)
				}
			}
			var addrs []netip.Addr
			for _, pr := range tt.probes {
				a := netip.MustParseAddr(pr.addr)
				addrs = append(addrs, a)
				v, ok := tab.Lookup(a)
				if ok != (pr.v != 0) || v != pr.v {
					t.Errorf("Lookup(%v) = %d, %v; want %d", a, v, ok, pr.v)
				}
			}
			if err := compare(&tab, &ref, 5, addrs); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestInvalid(t *testing.T) {
	var tab Table[int]
	tab.Insert(netip.Prefix{}, 1)
	tab.Insert(netip.PrefixFrom(netip.MustParseAddr("10.0.0.0"), 33), 1)
	tab.Insert(netip.PrefixFrom(netip.MustParseAddr("::"), -1), 1)
	if tab.Len() != 0 {
		t.Fatalf("invalid prefixes were inserted: Len = %d", tab.Len())
	}
	if tab.Remove(netip.Prefix{}) {
		t.Error("Remove(invalid) reported true")
	}
	if _, ok := tab.Get(netip.Prefix{}); ok {
		t.Error("Get(invalid) found something")
	}
	tab.Insert(netip.MustParsePrefix("0.0.0.0/0"), 1)
	tab.Insert(netip.MustParsePrefix("::/0"), 1)
	for _, b := range [][]byte{nil, {}, {1, 2, 3}, make([]byte, 5), make([]byte, 15), make([]byte, 17)} {
		if _, ok := tab.LookupBytes(b); ok {
			t.Errorf("LookupBytes(%d bytes) found something", len(b))
		}
	}
	if _, ok := tab.Lookup(netip.Addr{}); ok {
		t.Error("Lookup(zero Addr) found something")
	}
	tab.RemoveValue(7) // absent: no effect
	if tab.Len() != 2 {
		t.Errorf("Len = %d, want 2", tab.Len())
	}
}

func TestZone(t *testing.T) {
	var tab Table[int]
	tab.Insert(netip.MustParsePrefix("fe80::/64"), 1)
	if v, ok := tab.Lookup(netip.MustParseAddr("fe80::1%eth0")); !ok || v != 1 {
		t.Errorf("zoned lookup = %d, %v; want 1, true", v, ok)
	}
}

func TestGet(t *testing.T) {
	var tab Table[string]
	tab.Insert(netip.MustParsePrefix("10.0.0.0/8"), "a")
	tab.Insert(netip.MustParsePrefix("10.1.0.0/16"), "b")
	tab.Insert(netip.MustParsePrefix("10.2.0.0/16"), "c") // makes a branch point at 10.0.0.0/14
	for _, tc := range []struct {
		p    string
		want string
	}{{"10.0.0.0/8", "a"}, {"10.1.2.3/16", "b"}, {"10.0.0.0/14", ""}, {"10.0.0.0/9", ""}, {"10.1.0.0/24", ""}} {
		got, ok := tab.Get(netip.MustParsePrefix(tc.p))
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("Get(%s) = %q, %v; want %q", tc.p, got, ok, tc.want)
		}
	}
}

func TestPrefixesOrder(t *testing.T) {
	var tab Table[int]
	in := []string{"2001:db8::/32", "10.0.0.0/24", "10.0.0.0/8", "::/0", "192.168.0.1/32", "0.0.0.0/0", "2001:db8::/48", "::ffff:0.0.0.0/96"}
	for _, s := range in {
		tab.Insert(netip.MustParsePrefix(s), 1)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/24"),
		netip.MustParsePrefix("192.168.0.1/32"),
		netip.MustParsePrefix("::/0"),
		netip.MustParsePrefix("::ffff:0.0.0.0/96"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("2001:db8::/48"),
	}
	if got := tab.Prefixes(1); !slices.Equal(got, want) {
		t.Errorf("Prefixes = %v\nwant %v", got, want)
	}
	var all []netip.Prefix
	for p := range tab.All() {
		all = append(all, p)
	}
	if !slices.Equal(all, want) {
		t.Errorf("All = %v\nwant %v", all, want)
	}
	if got := tab.Prefixes(2); got != nil {
		t.Errorf("Prefixes(absent) = %v", got)
	}
}

// TestChurn checks that memory does not grow with churn: after many rounds
// of inserting and removing, the trie is back to nothing and the index has
// no leftovers.
func TestChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var tab Table[int]
	for round := range 50 {
		var ps []netip.Prefix
		for i := range 200 {
			p := randomPrefix(rng, nil).Masked()
			ps = append(ps, p)
			tab.Insert(p, round*1000+i%7)
		}
		for i := range 7 {
			tab.RemoveValue(round*1000 + i)
		}
		if tab.Len() != 0 || tab.v4 != nil || tab.v6 != nil || len(tab.byValue) != 0 {
			t.Fatalf("round %d: table not empty after removing every value: Len %d", round, tab.Len())
		}
		for _, p := range ps {
			tab.Insert(p, 1)
		}
		for _, p := range ps {
			tab.Remove(p)
		}
		if tab.Len() != 0 || tab.v4 != nil || tab.v6 != nil || len(tab.byValue) != 0 {
			t.Fatalf("round %d: table not empty after removing every prefix: Len %d", round, tab.Len())
		}
	}
}

// TestIndexShrinks checks that a value which once held many prefixes does
// not keep its large index array after losing most of them.
func TestIndexShrinks(t *testing.T) {
	var tab Table[int]
	var ps []netip.Prefix
	for i := range 1000 {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
		ps = append(ps, p)
		tab.Insert(p, 1)
	}
	for _, p := range ps[:990] {
		tab.Remove(p)
	}
	if c := cap(tab.byValue[1]); c > 40 {
		t.Errorf("index capacity %d for 10 prefixes", c)
	}
	if err := tab.check(); err != nil {
		t.Fatal(err)
	}
}

// TestRandom drives the table and the reference with the same random
// operations and compares them throughout.
func TestRandom(t *testing.T) {
	seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8}
	steps := 4000
	if testing.Short() {
		seeds, steps = seeds[:2], 1000
	}
	for _, seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		var tab Table[int]
		var ref reference
		const values = 24
		for step := range steps {
			switch r := rng.IntN(100); {
			case r < 60:
				p, v := randomPrefix(rng, ref.entries), rng.IntN(values)
				tab.Insert(p, v)
				ref.insert(p, v)
			case r < 85:
				// Mostly prefixes that are present, sometimes ones that
				// are not, including neighbours of present ones.
				p := randomPrefix(rng, ref.entries)
				if len(ref.entries) > 0 && rng.IntN(3) > 0 {
					p = ref.entries[rng.IntN(len(ref.entries))].p
				}
				if got, want := tab.Remove(p), ref.remove(p); got != want {
					t.Fatalf("seed %d step %d: Remove(%v) = %v, want %v", seed, step, p, got, want)
				}
			default:
				v := rng.IntN(values)
				tab.RemoveValue(v)
				ref.removeValue(v)
			}
			if step%50 == 0 || step == steps-1 {
				addrs := make([]netip.Addr, 200)
				for i := range addrs {
					addrs[i] = randomAddr(rng, ref.entries)
				}
				if err := compare(&tab, &ref, values, addrs); err != nil {
					t.Fatalf("seed %d step %d: %v", seed, step, err)
				}
			}
		}
	}
}

// randomPrefix makes a prefix that is often related to one already present
// (the same address with another length, or a sibling), so that nesting,
// forks in compressed edges and exact replacements all happen. Lengths are
// biased to cluster so that nested prefixes are common.
func randomPrefix(rng *rand.Rand, present []refEntry) netip.Prefix {
	if len(present) > 0 && rng.IntN(2) == 0 {
		base := present[rng.IntN(len(present))].p
		a := randomIn(rng, base)
		// Skewed towards longer so that lengths do not drift down to
		// default routes, which would make every lookup match.
		bits := base.Bits() + rng.IntN(13) - 4
		bits = max(min(base.Bits(), 4), min(bits, a.BitLen()))
		return netip.PrefixFrom(a, bits)
	}
	a := randomAddr(rng, nil)
	if rng.IntN(20) == 0 {
		// IPv4-mapped IPv6, to check the families stay apart.
		a = netip.AddrFrom16(a.As16())
		if a.Is4In6() {
			return netip.PrefixFrom(a, 96+rng.IntN(33))
		}
	}
	bits := 8 + rng.IntN(a.BitLen()-7)
	switch rng.IntN(100) {
	case 0:
		bits = rng.IntN(8) // short prefixes and default routes, rarely
	case 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30:
		bits = a.BitLen() // hosts are common in real configurations
	}
	return netip.PrefixFrom(a, bits)
}

// randomAddr picks an address inside a present prefix most of the time, so
// that lookups exercise matches rather than falling through.
func randomAddr(rng *rand.Rand, present []refEntry) netip.Addr {
	if len(present) > 0 && rng.IntN(4) > 0 {
		return randomIn(rng, present[rng.IntN(len(present))].p)
	}
	if rng.IntN(2) == 0 {
		var b [4]byte
		// A narrow first octet keeps random prefixes overlapping while
		// leaving room for lookups that match nothing.
		b[0] = byte(rng.IntN(64))
		for i := 1; i < 4; i++ {
			b[i] = byte(rng.Uint32())
		}
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	b[0], b[1] = 0x20, byte(rng.IntN(64))
	for i := 2; i < 16; i++ {
		b[i] = byte(rng.Uint32())
	}
	if rng.IntN(8) == 0 {
		b = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}).As16()
	}
	return netip.AddrFrom16(b)
}

// randomIn returns a random address inside p: p's bits, random host bits.
func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		mask := byte(0x80) >> (i % 8)
		if rng.IntN(2) == 0 {
			b[i/8] |= mask
		} else {
			b[i/8] &^= mask
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestLookupDoesNotAllocate guards the data path's promise.
func TestLookupDoesNotAllocate(t *testing.T) {
	var tab Table[*int]
	v := new(int)
	tab.Insert(netip.MustParsePrefix("10.0.0.0/8"), v)
	tab.Insert(netip.MustParsePrefix("10.1.0.0/16"), v)
	tab.Insert(netip.MustParsePrefix("2001:db8::/32"), v)
	ip4 := []byte{10, 1, 2, 3}
	ip6 := netip.MustParseAddr("2001:db8::1").AsSlice()
	a := netip.MustParseAddr("10.1.2.3")
	if n := testing.AllocsPerRun(100, func() {
		tab.LookupBytes(ip4)
		tab.LookupBytes(ip6)
		tab.Lookup(a)
	}); n != 0 {
		t.Errorf("lookups allocate %v times", n)
	}
}
