// SPDX-License-Identifier: MIT

package allowedips

import (
	"net/netip"
	"testing"
)

// opReader decodes a fuzz input into table operations. Running out of
// bytes reads zeros, so every input is a valid program.
type opReader struct{ b []byte }

func (r *opReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// addr reads a family byte and four address bytes. IPv6 addresses spread
// their four bytes over both 64-bit halves of the key so that the fuzzer
// reaches forks in either word with few bytes; bit 1 of the family byte
// selects an IPv4-mapped IPv6 address to probe the family separation.
func (r *opReader) addr() netip.Addr {
	f := r.byte()
	b := [4]byte{r.byte(), r.byte(), r.byte(), r.byte()}
	switch {
	case f&1 == 0:
		return netip.AddrFrom4(b)
	case f&2 != 0:
		return netip.AddrFrom16(netip.AddrFrom4(b).As16())
	default:
		var a [16]byte
		a[0], a[1], a[8], a[15] = b[0], b[1], b[2], b[3]
		return netip.AddrFrom16(a)
	}
}

func (r *opReader) prefix() netip.Prefix {
	a := r.addr()
	return netip.PrefixFrom(a, int(r.byte())%(a.BitLen()+1))
}

// FuzzTable runs a decoded sequence of inserts, removes, value removals and
// lookups against the table and the reference, then compares everything.
//
// Each operation starts with a byte whose value mod 8 selects it:
// 0-3 insert (prefix, value byte), 4 remove (prefix), 5 remove value (value
// byte), 6-7 lookup (address). A prefix is an address followed by a length
// byte; an address is a family byte and four address bytes.
func FuzzTable(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 10, 0, 0, 0, 8, 1, 0, 0, 10, 1, 0, 0, 16, 2, 6, 0, 10, 1, 2, 3, 6, 0, 10, 2, 2, 3})
	f.Add([]byte{0, 1, 0x20, 0x01, 0, 0, 32, 1, 0, 1, 0x20, 0x01, 0xff, 1, 128, 2, 5, 1, 7, 1, 0x20, 0x01, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		const values = 8
		r := opReader{data}
		var tab Table[int]
		var ref reference
		var seen []netip.Addr
		for steps := 0; len(r.b) > 0 && steps < 512; steps++ {
			switch r.byte() % 8 {
			case 0, 1, 2, 3:
				p, v := r.prefix(), int(r.byte()%values)
				tab.Insert(p, v)
				ref.insert(p, v)
				seen = append(seen, p.Addr())
			case 4:
				p := r.prefix()
				if got, want := tab.Remove(p), ref.remove(p); got != want {
					t.Fatalf("Remove(%v) = %v, want %v", p, got, want)
				}
			case 5:
				v := int(r.byte() % values)
				tab.RemoveValue(v)
				ref.removeValue(v)
			default:
				a := r.addr()
				seen = append(seen, a)
				want, wantOK := ref.lookup(a)
				if got, ok := tab.Lookup(a); ok != wantOK || got != want {
					t.Fatalf("Lookup(%v) = %d, %v; want %d, %v", a, got, ok, want, wantOK)
				}
			}
		}
		if err := compare(&tab, &ref, values, seen); err != nil {
			t.Fatal(err)
		}
	})
}
