// SPDX-License-Identifier: MIT

package allowedips

import (
	"fmt"
	"net/netip"
	"slices"
)

// reference is the slow, obviously right model the trie is checked
// against: a flat list with a linear longest-prefix match.
type reference struct {
	entries []refEntry
}

type refEntry struct {
	p netip.Prefix
	v int
}

func (r *reference) insert(p netip.Prefix, v int) {
	if !p.IsValid() {
		return
	}
	p = p.Masked()
	for i := range r.entries {
		if r.entries[i].p == p {
			r.entries[i].v = v
			return
		}
	}
	r.entries = append(r.entries, refEntry{p, v})
}

func (r *reference) remove(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	p = p.Masked()
	for i, e := range r.entries {
		if e.p == p {
			r.entries = slices.Delete(r.entries, i, i+1)
			return true
		}
	}
	return false
}

func (r *reference) removeValue(v int) {
	r.entries = slices.DeleteFunc(r.entries, func(e refEntry) bool { return e.v == v })
}

func (r *reference) lookup(a netip.Addr) (int, bool) {
	best, v := -1, 0
	for _, e := range r.entries {
		// Prefix.Contains already keeps IPv4 and IPv6 (mapped or not)
		// apart, which is the separation the table must keep too.
		if e.p.Contains(a) && e.p.Bits() > best {
			best, v = e.p.Bits(), e.v
		}
	}
	return v, best >= 0
}

func (r *reference) prefixes(v int) []netip.Prefix {
	var out []netip.Prefix
	for _, e := range r.entries {
		if e.v == v {
			out = append(out, e.p)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

// check verifies the trie's structural invariants: parent links, masked
// keys, children extending their parent on the side named by their bit,
// every valueless node having two children (so removal merged properly), the
// prefix count, and the value index pointing at exactly the valued nodes.
func (t *Table[V]) check() error {
	valued := 0
	nodes := 0
	var visit func(n, parent *node[V], is6 bool) error
	visit = func(n, parent *node[V], is6 bool) error {
		if n == nil {
			return nil
		}
		nodes++
		if n.parent != parent {
			return fmt.Errorf("%v: wrong parent", n.prefix())
		}
		if n.is6 != is6 {
			return fmt.Errorf("%v: in the wrong family's trie", n.prefix())
		}
		if is6 && n.bits > 128 || !is6 && n.bits > 32 {
			return fmt.Errorf("%v: length out of range", n.prefix())
		}
		if n.key.masked(n.bits) != n.key {
			return fmt.Errorf("%v: key not masked", n.prefix())
		}
		if parent != nil {
			if n.bits <= parent.bits || commonBits(n.key, parent.key) < parent.bits {
				return fmt.Errorf("%v: does not extend parent %v", n.prefix(), parent.prefix())
			}
			if parent.child[n.key.bit(parent.bits)] != n {
				return fmt.Errorf("%v: on the wrong side of %v", n.prefix(), parent.prefix())
			}
		}
		if n.valued {
			valued++
			s := t.byValue[n.value]
			if int(n.slot) >= len(s) || s[n.slot] != n {
				return fmt.Errorf("%v: missing from the value index", n.prefix())
			}
		} else if n.child[0] == nil || n.child[1] == nil {
			return fmt.Errorf("%v: branch point without two children", n.prefix())
		}
		if err := visit(n.child[0], n, is6); err != nil {
			return err
		}
		return visit(n.child[1], n, is6)
	}
	if err := visit(t.v4, nil, false); err != nil {
		return err
	}
	if err := visit(t.v6, nil, true); err != nil {
		return err
	}
	if valued != t.n {
		return fmt.Errorf("%d valued nodes, Len says %d", valued, t.n)
	}
	// With two children under every branch point, a trie of k prefixes
	// has at most k-1 branch points.
	if nodes > 2*valued-1 && nodes > 0 {
		return fmt.Errorf("%d nodes for %d prefixes", nodes, valued)
	}
	indexed := 0
	for v, s := range t.byValue {
		if len(s) == 0 {
			return fmt.Errorf("empty index entry for %v", v)
		}
		for _, n := range s {
			if !n.valued || n.value != v {
				return fmt.Errorf("index for %v holds %v", v, n.prefix())
			}
		}
		indexed += len(s)
	}
	if indexed != t.n {
		return fmt.Errorf("index holds %d nodes, Len says %d", indexed, t.n)
	}
	return nil
}

// compare checks t against r: Len, every value's Prefixes, All, and
// lookups of the given addresses through both Lookup and LookupBytes.
func compare(t *Table[int], r *reference, values int, addrs []netip.Addr) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.Len() != len(r.entries) {
		return fmt.Errorf("Len = %d, want %d", t.Len(), len(r.entries))
	}
	for v := range values {
		got, want := t.Prefixes(v), r.prefixes(v)
		if !slices.Equal(got, want) {
			return fmt.Errorf("Prefixes(%d) = %v, want %v", v, got, want)
		}
	}
	all := slices.Collect(func(yield func(netip.Prefix) bool) {
		for p := range t.All() {
			if !yield(p) {
				return
			}
		}
	})
	if !slices.IsSortedFunc(all, comparePrefix) || len(all) != len(r.entries) {
		return fmt.Errorf("All yielded %d prefixes, unsorted or short of %d", len(all), len(r.entries))
	}
	for _, a := range addrs {
		want, wantOK := r.lookup(a)
		got, ok := t.Lookup(a)
		if ok != wantOK || got != want {
			return fmt.Errorf("Lookup(%v) = %d, %v; want %d, %v", a, got, ok, want, wantOK)
		}
		got, ok = t.LookupBytes(a.AsSlice())
		if ok != wantOK || got != want {
			return fmt.Errorf("LookupBytes(%v) = %d, %v; want %d, %v", a, got, ok, want, wantOK)
		}
	}
	return nil
}
