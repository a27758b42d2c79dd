// SPDX-License-Identifier: MIT

package plugins

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
)

// The claim index answers as a check against every claim would: random
// prefixes of both families, claims of every kind added and removed.
func TestClaimIndexMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	keys := []core.PublicKey{{1}, {2}, {3}}
	randPrefix := func() netip.Prefix {
		if rng.IntN(2) == 0 {
			// A small corner of the space, so that overlaps are common.
			a := netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(4)), byte(rng.IntN(256))})
			return netip.PrefixFrom(a, 20+rng.IntN(13)).Masked()
		}
		var b [16]byte
		b[0], b[1], b[15] = 0xfd, byte(rng.IntN(4)), byte(rng.IntN(256))
		return netip.PrefixFrom(netip.AddrFrom16(b), 8+rng.IntN(121)).Masked()
	}
	x := newClaimIndex()
	var all []claim
	for round := 0; round < 3000; round++ {
		if len(all) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(all))
			c := all[i]
			x.del(c.prefix, c.kind, c.holder)
			all = append(all[:i], all[i+1:]...)
		} else {
			c := claim{prefix: randPrefix(), kind: claimKind(rng.IntN(4)), holder: keys[rng.IntN(len(keys))]}
			if c.kind == claimSelf {
				c.holder = core.PublicKey{}
			}
			if c.kind == claimHeld {
				c.until = now.Add(time.Duration(rng.IntN(3)-1) * time.Minute) // some ran out
			}
			dup := false
			for _, o := range all {
				dup = dup || (o.prefix == c.prefix && o.kind == c.kind && o.holder == c.holder)
			}
			if !dup {
				x.add(c)
				all = append(all, c)
			}
		}
		if x.n != len(all) {
			t.Fatalf("round %d: index holds %d claims, want %d", round, x.n, len(all))
		}
		p, k := randPrefix(), keys[rng.IntN(len(keys))]
		want := false
		for i := range all {
			want = want || (all[i].prefix.Overlaps(p) && all[i].blocks(k, now))
		}
		c, got := x.overlap(p, k, now)
		if got != want {
			t.Fatalf("round %d: overlap(%s, key %x) = %v, want %v", round, p, k[0], got, want)
		}
		if got && (!c.prefix.Overlaps(p) || !c.blocks(k, now)) {
			t.Fatalf("round %d: overlap(%s) named %s (kind %d), which does not block it", round, p, c.prefix, c.kind)
		}
	}
	for _, c := range all {
		x.del(c.prefix, c.kind, c.holder)
	}
	if x.n != 0 || x.root4.sub != 0 || x.root6.sub != 0 || x.root4.child != [2]*claimNode{} || x.root6.child != [2]*claimNode{} {
		t.Fatal("the index is not empty after every claim was removed")
	}
}
