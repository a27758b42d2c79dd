// SPDX-License-Identifier: MIT

package fleet

import (
	"encoding/binary"
	"net/netip"
	"unicode/utf8"
)

// writer appends the fields of an object.
type writer struct{ b []byte }

func (w *writer) bytes(p []byte) { w.b = append(w.b, p...) }
func (w *writer) u8(v uint8)     { w.b = append(w.b, v) }
func (w *writer) u16(v uint16)   { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32)   { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }

// str writes a string of at most 255 bytes, length first.
func (w *writer) str(s string) {
	w.u8(uint8(len(s)))
	w.b = append(w.b, s...)
}

// prefix writes a masked prefix compactly: family (4 or 6), length in
// bits, then only the address bytes the length covers.
func (w *writer) prefix(p netip.Prefix) {
	p = p.Masked()
	a := p.Addr()
	if a.Is4() {
		w.u8(4)
	} else {
		w.u8(6)
	}
	w.u8(uint8(p.Bits()))
	raw := a.AsSlice()
	w.b = append(w.b, raw[:(p.Bits()+7)/8]...)
}

// endpoint writes an address and port: family, address, port.
func (w *writer) endpoint(ap netip.AddrPort) {
	a := ap.Addr()
	if a.Is4() {
		w.u8(4)
	} else {
		w.u8(6)
	}
	w.bytes(a.AsSlice())
	w.u16(ap.Port())
}

// reader takes the fields of an object apart; the first error sticks and
// every later read returns zero values, so decoders check once at the end
// of a group of reads.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = malformed(format, a...)
	}
}

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("truncated %s", what)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8(what string) uint8 {
	p := r.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16(what string) uint16 {
	p := r.take(2, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint16(p)
}

func (r *reader) u32(what string) uint32 {
	p := r.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (r *reader) u64(what string) uint64 {
	p := r.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

// str reads a length-prefixed string of at most max bytes that is valid
// UTF-8 without control characters (it ends up in logs).
func (r *reader) str(max int, what string) string {
	n := int(r.u8(what))
	if r.err == nil && n > max {
		r.fail("%s longer than %d bytes", what, max)
		return ""
	}
	p := r.take(n, what)
	if p == nil {
		return ""
	}
	s := string(p)
	if !printable(s) {
		r.fail("%s is not printable UTF-8", what)
		return ""
	}
	return s
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	return true
}

// prefix reads a prefix written by writer.prefix; the address bits past
// the length must be zero, so that each prefix has one encoding.
func (r *reader) prefix(what string) netip.Prefix {
	fam := r.u8(what)
	bits := int(r.u8(what))
	if r.err != nil {
		return netip.Prefix{}
	}
	var size int
	switch fam {
	case 4:
		size = 4
	case 6:
		size = 16
	default:
		r.fail("%s: address family %d", what, fam)
		return netip.Prefix{}
	}
	if bits > size*8 {
		r.fail("%s: /%d is too long", what, bits)
		return netip.Prefix{}
	}
	p := r.take((bits+7)/8, what)
	if r.err != nil {
		return netip.Prefix{}
	}
	var raw [16]byte
	copy(raw[:], p)
	if rem := bits % 8; rem != 0 && p[len(p)-1]&(0xff>>rem) != 0 {
		r.fail("%s: bits set past the prefix length", what)
		return netip.Prefix{}
	}
	var a netip.Addr
	if size == 4 {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	} else {
		a = netip.AddrFrom16(raw)
	}
	return netip.PrefixFrom(a, bits)
}

// endpoint reads an endpoint written by writer.endpoint. IPv4-mapped IPv6
// addresses and port 0 are refused: both have a better spelling or none.
func (r *reader) endpoint(what string) netip.AddrPort {
	fam := r.u8(what)
	var a netip.Addr
	switch {
	case r.err != nil:
		return netip.AddrPort{}
	case fam == 4:
		p := r.take(4, what)
		if p != nil {
			a = netip.AddrFrom4([4]byte(p))
		}
	case fam == 6:
		p := r.take(16, what)
		if p != nil {
			a = netip.AddrFrom16([16]byte(p))
			if a.Is4In6() {
				r.fail("%s: IPv4-mapped IPv6 address", what)
			}
		}
	default:
		r.fail("%s: address family %d", what, fam)
	}
	port := r.u16(what)
	if r.err != nil {
		return netip.AddrPort{}
	}
	if port == 0 {
		r.fail("%s: port 0", what)
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, port)
}

// header checks the magic and version at the start of an object.
func (r *reader) header(magic, what string) {
	m := r.take(4, what)
	v := r.u8(what)
	if r.err != nil {
		return
	}
	if string(m) != magic {
		r.fail("not a %s (magic %q)", what, m)
		return
	}
	if v != Version {
		r.fail("%s version %d, this build reads %d", what, v, Version)
	}
}

// end checks that nothing follows the object.
func (r *reader) end(what string) {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d bytes after the %s", len(r.b), what)
	}
}
