// SPDX-License-Identifier: MIT

// Package allowedips is WireGuard's cryptokey routing table: a map from IP
// prefixes to values with longest-prefix-match lookup, used on the send path
// to pick the peer for a packet's destination and on the receive path to
// check that a decrypted packet's source belongs to the peer it came from.
//
// The table is generic over its value so that it knows nothing of peers; the
// engine instantiates it with its peer pointer. IPv4 and IPv6 are kept in
// two separate tries, as WireGuard does: an IPv4-mapped IPv6 prefix such as
// ::ffff:10.0.0.0/104 is an IPv6 prefix and never matches a 4-byte address.
//
// Each family is a path-compressed binary trie: a node exists only for an
// inserted prefix or where two inserted prefixes part ways, so a lookup
// visits at most one node per distinct branching bit on the way to the
// answer (about log2 of the table size for scattered host routes) and
// memory stays at a node or two per prefix. Tables with wider strides
// would save some of those steps but cost memory per entry that a server
// with 100k peers would feel; lookups here do not allocate either way.
package allowedips

import (
	"iter"
	"net/netip"
	"slices"
)

// Table maps IP prefixes to values of type V and finds the most specific
// prefix containing an address.
//
// The zero value is an empty table ready to use. A Table must not be copied
// after first use: the copy would share nodes with the original.
//
// A Table is not safe for concurrent use. Lookups only read, so the engine
// guards a Table with a sync.RWMutex: the read lock around Lookup,
// LookupBytes, Prefixes, All and Len, the write lock around Insert, Remove
// and RemoveValue.
//
// V is used as a map key for the value index, so every value must be equal
// to itself: an interface holding an incomparable dynamic type panics like
// any map key would, and a NaN float can never be found again.
type Table[V comparable] struct {
	v4, v6 *node[V]

	// byValue indexes the valued nodes of each value so that RemoveValue
	// and Prefixes cost the value's own prefixes, not a walk of the table.
	// A slice per value keeps the overhead near one pointer per prefix;
	// node.slot makes removing one entry O(1).
	byValue map[V][]*node[V]

	n int // number of prefixes held
}

// Insert maps prefix p to v, replacing the value of any existing entry for
// exactly that prefix. p is masked to its length first, so 10.0.0.1/24
// stands for 10.0.0.0/24. An invalid prefix (the zero Prefix included) is
// ignored.
func (t *Table[V]) Insert(p netip.Prefix, v V) {
	if !p.IsValid() {
		return
	}
	p = p.Masked()
	var n *node[V]
	if p.Addr().Is4() {
		n = place(&t.v4, keyFrom4(p.Addr().As4()), uint8(p.Bits()), false)
	} else {
		n = place(&t.v6, keyFrom16(p.Addr().As16()), uint8(p.Bits()), true)
	}
	if n.valued {
		if n.value == v {
			return
		}
		t.unindex(n)
	} else {
		n.valued = true
		t.n++
	}
	n.value = v
	t.index(n)
}

// Remove deletes the entry for exactly prefix p (masked first, as in
// Insert) and reports whether there was one. A more or less specific prefix
// is left alone.
func (t *Table[V]) Remove(p netip.Prefix) bool {
	n := t.exact(p)
	if n == nil || !n.valued {
		return false
	}
	t.unindex(n)
	t.drop(n)
	return true
}

// RemoveValue deletes every prefix mapped to v. It costs time in proportion
// to v's own prefixes, not to the size of the table.
func (t *Table[V]) RemoveValue(v V) {
	nodes, ok := t.byValue[v]
	if !ok {
		return
	}
	delete(t.byValue, v)
	// drop only ever frees the node it is given and branch points without
	// a value, so the other nodes in this list stay valid throughout.
	for _, n := range nodes {
		t.drop(n)
	}
}

// Lookup returns the value of the most specific prefix containing a. An
// IPv6 zone is ignored; an IPv4-mapped IPv6 address is looked up among the
// IPv6 prefixes.
func (t *Table[V]) Lookup(a netip.Addr) (V, bool) {
	var n *node[V]
	switch {
	case a.Is4():
		n = find(t.v4, keyFrom4(a.As4()))
	case a.Is6():
		n = find(t.v6, keyFrom16(a.As16()))
	}
	return valueOf(n)
}

// LookupBytes is Lookup for a raw address taken straight from a packet
// header: 4 bytes for IPv4, 16 for IPv6. Any other length finds nothing. It
// does not allocate.
func (t *Table[V]) LookupBytes(ip []byte) (V, bool) {
	var n *node[V]
	switch len(ip) {
	case 4:
		n = find(t.v4, keyFrom4([4]byte(ip)))
	case 16:
		n = find(t.v6, keyFrom16([16]byte(ip)))
	}
	return valueOf(n)
}

// Get returns the value mapped to exactly prefix p (masked first), without
// longest-prefix matching.
func (t *Table[V]) Get(p netip.Prefix) (V, bool) {
	n := t.exact(p)
	if n == nil || !n.valued {
		var zero V
		return zero, false
	}
	return n.value, true
}

// Prefixes returns the prefixes mapped to v in a stable order: IPv4 before
// IPv6, then by address, then by length. The slice is newly allocated.
func (t *Table[V]) Prefixes(v V) []netip.Prefix {
	nodes := t.byValue[v]
	if len(nodes) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(nodes))
	for i, n := range nodes {
		out[i] = n.prefix()
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

// Len returns the number of prefixes in the table.
func (t *Table[V]) Len() int { return t.n }

// All yields every prefix and its value in the order of Prefixes. The table
// must not be changed while the iteration runs.
func (t *Table[V]) All() iter.Seq2[netip.Prefix, V] {
	return func(yield func(netip.Prefix, V) bool) {
		// A pre-order walk taking child 0 first visits prefixes by address
		// and, for equal addresses, shorter first: an ancestor's masked
		// address never exceeds its descendants', and the left subtree
		// holds the addresses with a 0 where the right has a 1.
		_ = walk(t.v4, yield) && walk(t.v6, yield)
	}
}

func walk[V comparable](n *node[V], yield func(netip.Prefix, V) bool) bool {
	if n == nil {
		return true
	}
	if n.valued && !yield(n.prefix(), n.value) {
		return false
	}
	return walk(n.child[0], yield) && walk(n.child[1], yield)
}

func valueOf[V comparable](n *node[V]) (V, bool) {
	if n == nil {
		var zero V
		return zero, false
	}
	return n.value, true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// exact finds the node for exactly p, valued or not.
func (t *Table[V]) exact(p netip.Prefix) *node[V] {
	if !p.IsValid() {
		return nil
	}
	p = p.Masked()
	if p.Addr().Is4() {
		return exact(t.v4, keyFrom4(p.Addr().As4()), uint8(p.Bits()))
	}
	return exact(t.v6, keyFrom16(p.Addr().As16()), uint8(p.Bits()))
}

// index records valued node n under its value.
func (t *Table[V]) index(n *node[V]) {
	if t.byValue == nil {
		t.byValue = make(map[V][]*node[V])
	}
	s := t.byValue[n.value]
	n.slot = uint32(len(s))
	t.byValue[n.value] = append(s, n)
}

// unindex forgets n from its value's list by moving the last entry into its
// slot.
func (t *Table[V]) unindex(n *node[V]) {
	s := t.byValue[n.value]
	last := len(s) - 1
	moved := s[last]
	s[n.slot] = moved
	moved.slot = n.slot
	s[last] = nil
	s = s[:last]
	switch {
	case len(s) == 0:
		delete(t.byValue, n.value)
	case cap(s) >= 8 && len(s) < cap(s)/4:
		// A value that once held many prefixes should not pin the
		// large array after most of them are gone.
		t.byValue[n.value] = slices.Clip(slices.Clone(s))
	default:
		t.byValue[n.value] = s
	}
}

// drop clears valued node n, already unindexed, and restores the invariant
// that a node without a value has two children.
func (t *Table[V]) drop(n *node[V]) {
	var zero V
	n.value = zero // let the value be collected
	n.valued = false
	t.n--
	switch {
	case n.child[0] != nil && n.child[1] != nil:
		// Still a branch point; it stays as one.
	case n.child[0] != nil:
		t.replace(n, n.child[0])
	case n.child[1] != nil:
		t.replace(n, n.child[1])
	default:
		p := n.parent
		t.replace(n, nil)
		// The parent had two children or a value. If it had no value, it
		// now has a single child and is a useless branch point.
		if p != nil && !p.valued {
			only := p.child[0]
			if only == nil {
				only = p.child[1]
			}
			t.replace(p, only)
		}
	}
}

// replace puts with (possibly nil) where n hangs in the trie and detaches n.
func (t *Table[V]) replace(n, with *node[V]) {
	p := n.parent
	if with != nil {
		with.parent = p
	}
	switch {
	case p == nil && n.is6:
		t.v6 = with
	case p == nil:
		t.v4 = with
	case p.child[0] == n:
		p.child[0] = with
	default:
		p.child[1] = with
	}
	n.parent = nil
	n.child = [2]*node[V]{}
}
