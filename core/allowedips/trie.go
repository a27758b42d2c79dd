// SPDX-License-Identifier: MIT

package allowedips

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// key is an address or a prefix's address as a 128-bit big-endian integer.
// An IPv4 address sits in the top 32 bits of hi, so that bit i of the
// address is bit i of the key in both families and a single walk serves
// both tries. Comparing two uint64 words is much cheaper than comparing
// byte arrays on the lookup path.
type key struct{ hi, lo uint64 }

func keyFrom4(b [4]byte) key {
	return key{hi: uint64(binary.BigEndian.Uint32(b[:])) << 32}
}

func keyFrom16(b [16]byte) key {
	return key{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// bit returns bit i of k, counting from the most significant. Past the end
// (i == 128) the unsigned shift count overflows and yields 0 instead of
// panicking; callers only do that at a full-length node, whose children are
// nil anyway.
func (k key) bit(i uint8) uint8 {
	if i < 64 {
		return uint8(k.hi>>(63-uint(i))) & 1
	}
	return uint8(k.lo>>(127-uint(i))) & 1
}

// masked keeps the first n bits of k and clears the rest.
func (k key) masked(n uint8) key {
	// A shift by 64 or more yields 0 in Go, which makes the high mask all
	// ones for n >= 64 without a branch.
	return key{
		hi: k.hi &^ (^uint64(0) >> n),
		lo: k.lo &^ (^uint64(0) >> max(int(n)-64, 0)),
	}
}

// commonBits is the length of the longest common prefix of a and b (0..128).
func commonBits(a, b key) uint8 {
	if x := a.hi ^ b.hi; x != 0 {
		return uint8(bits.LeadingZeros64(x))
	}
	return uint8(64 + bits.LeadingZeros64(a.lo^b.lo))
}

// node is one vertex of a path-compressed binary trie. A node either holds
// a value (it is an inserted prefix) or is a branch point without a value.
// The trie keeps the invariant that every node without a value has exactly
// two children: removal merges away any that would be left with fewer, so
// the node count stays below twice the prefix count however much churn the
// table sees.
//
// The field order packs the small fields into the padding after the value's
// slot; with a pointer-sized V a node is 64 bytes.
type node[V comparable] struct {
	child  [2]*node[V]
	parent *node[V] // nil at the root; needed to merge upwards on removal
	key    key      // prefix address, already masked to bits
	value  V
	slot   uint32 // position of this node in its value's index slice
	bits   uint8  // prefix length
	valued bool   // value is meaningful
	is6    bool   // node lives in the IPv6 trie
}

func (n *node[V]) prefix() netip.Prefix {
	var a netip.Addr
	if n.is6 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], n.key.hi)
		binary.BigEndian.PutUint64(b[8:], n.key.lo)
		a = netip.AddrFrom16(b)
	} else {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(n.key.hi>>32))
		a = netip.AddrFrom4(b)
	}
	return netip.PrefixFrom(a, int(n.bits))
}

// find walks from n towards k and returns the deepest valued node whose
// prefix contains k, or nil.
func find[V comparable](n *node[V], k key) *node[V] {
	var best *node[V]
	for n != nil && commonBits(k, n.key) >= n.bits {
		if n.valued {
			best = n
		}
		n = n.child[k.bit(n.bits)]
	}
	return best
}

// exact returns the node for exactly prefix (k, b), valued or not, or nil.
func exact[V comparable](n *node[V], k key, b uint8) *node[V] {
	for n != nil && n.bits <= b && commonBits(k, n.key) >= n.bits {
		if n.bits == b {
			return n
		}
		n = n.child[k.bit(n.bits)]
	}
	return nil
}

// place returns the node for exactly prefix (k, b) in the trie rooted at
// *root, creating it (and a branch point if the new prefix forks off an
// existing edge) when missing. k must already be masked to b bits.
func place[V comparable](root **node[V], k key, b uint8, is6 bool) *node[V] {
	link := root
	var parent *node[V]
	for {
		n := *link
		if n == nil {
			nn := &node[V]{key: k, bits: b, parent: parent, is6: is6}
			*link = nn
			return nn
		}
		common := min(commonBits(k, n.key), b, n.bits)
		if common == n.bits {
			if n.bits == b {
				return n
			}
			parent = n
			link = &n.child[k.bit(n.bits)]
			continue
		}
		// The new prefix leaves the compressed edge above n: either it
		// covers n, or it diverges from n somewhere along the edge and
		// needs a branch point there.
		var mid, made *node[V]
		if common == b {
			made = &node[V]{key: k, bits: b, parent: parent, is6: is6}
			mid = made
		} else {
			mid = &node[V]{key: k.masked(common), bits: common, parent: parent, is6: is6}
			made = &node[V]{key: k, bits: b, parent: mid, is6: is6}
			mid.child[k.bit(common)] = made
		}
		mid.child[n.key.bit(common)] = n
		n.parent = mid
		*link = mid
		return made
	}
}
