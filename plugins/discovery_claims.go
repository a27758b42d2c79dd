// SPDX-License-Identifier: MIT

package plugins

import (
	"net/netip"
	"time"

	"github.com/wgplex/wgplex/core"
)

// claimIndex holds the prefixes that are taken (this node's, hand-
// configured peers', discovered peers', held ones) in a binary trie per
// address family, so that whether a record's prefix overlaps a claim is
// one walk down the prefix's bits plus a look at what lies under it: the
// cost of checking a record grows with its own prefixes, not with the
// fleet.
type claimIndex struct {
	root4, root6 *claimNode
	n            int
}

// claimNode is one bit position of the trie. sub counts the claims at and
// under it, so that empty branches are skipped.
type claimNode struct {
	child  [2]*claimNode
	claims []claim
	sub    int
}

// claimKind says why a prefix is taken, which decides who may still use it.
type claimKind uint8

const (
	claimSelf   claimKind = iota // this node's announced prefix
	claimManual                  // a hand-configured peer's
	claimOwned                   // a discovered peer's; its key may keep it
	claimHeld                    // given up lately; its key may take it back
)

func newClaimIndex() *claimIndex { return &claimIndex{root4: &claimNode{}, root6: &claimNode{}} }

// bitAt is bit i (0 = most significant) of a's 4- or 16-byte form.
func bitAt(a []byte, i int) int { return int(a[i/8]>>(7-i%8)) & 1 }

// path returns the nodes from the root to p's node, creating them when
// create is set; nil if absent.
func (x *claimIndex) path(p netip.Prefix, create bool) []*claimNode {
	n := x.root6
	a := p.Addr().AsSlice()
	if p.Addr().Is4() {
		n = x.root4
	}
	out := make([]*claimNode, 0, p.Bits()+1)
	out = append(out, n)
	for i := 0; i < p.Bits(); i++ {
		c := n.child[bitAt(a, i)]
		if c == nil {
			if !create {
				return nil
			}
			c = &claimNode{}
			n.child[bitAt(a, i)] = c
		}
		n = c
		out = append(out, n)
	}
	return out
}

// add records c (its prefix masked).
func (x *claimIndex) add(c claim) {
	c.prefix = c.prefix.Masked()
	nodes := x.path(c.prefix, true)
	for _, n := range nodes {
		n.sub++
	}
	last := nodes[len(nodes)-1]
	last.claims = append(last.claims, c)
	x.n++
}

// del removes the claim on p of the given kind and key, if there is one.
func (x *claimIndex) del(p netip.Prefix, kind claimKind, k core.PublicKey) {
	p = p.Masked()
	nodes := x.path(p, false)
	if nodes == nil {
		return
	}
	last := nodes[len(nodes)-1]
	for i, c := range last.claims {
		if c.kind == kind && c.holder == k {
			last.claims[i] = last.claims[len(last.claims)-1]
			last.claims[len(last.claims)-1] = claim{}
			last.claims = last.claims[:len(last.claims)-1]
			x.n--
			for _, n := range nodes {
				n.sub--
			}
			// Cut the branch that became empty.
			a := p.Addr().AsSlice()
			for i := len(nodes) - 1; i > 0; i-- {
				if nodes[i].sub > 0 {
					break
				}
				nodes[i-1].child[bitAt(a, i-1)] = nil
			}
			return
		}
	}
}

// blocks reports whether c keeps key k from p: a claim of another key,
// this node's or a hand-configured peer's, or a hold still running.
func (c *claim) blocks(k core.PublicKey, now time.Time) bool {
	switch c.kind {
	case claimOwned:
		return c.holder != k
	case claimHeld:
		return c.holder != k && !now.After(c.until)
	}
	return true
}

// overlap returns a claim that overlaps p and keeps key k from it.
func (x *claimIndex) overlap(p netip.Prefix, k core.PublicKey, now time.Time) (claim, bool) {
	p = p.Masked()
	n := x.root6
	a := p.Addr().AsSlice()
	if p.Addr().Is4() {
		n = x.root4
	}
	// Claims that contain p lie on its path.
	for i := 0; ; i++ {
		if n == nil || n.sub == 0 {
			return claim{}, false
		}
		if i == p.Bits() {
			break
		}
		for j := range n.claims {
			if n.claims[j].blocks(k, now) {
				return n.claims[j], true
			}
		}
		n = n.child[bitAt(a, i)]
	}
	// Claims inside p (p itself included) lie under its node.
	return n.find(k, now)
}

func (n *claimNode) find(k core.PublicKey, now time.Time) (claim, bool) {
	if n == nil || n.sub == 0 {
		return claim{}, false
	}
	for j := range n.claims {
		if n.claims[j].blocks(k, now) {
			return n.claims[j], true
		}
	}
	if c, ok := n.child[0].find(k, now); ok {
		return c, true
	}
	return n.child[1].find(k, now)
}
