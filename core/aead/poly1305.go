// SPDX-License-Identifier: MIT

package aead

import (
	"encoding/binary"
	"math/bits"
)

// Poly1305 (RFC 8439 §2.5) in two representations.
//
// The scalar code here holds the accumulator in radix 2^64 as h0 + h1*2^64 +
// h2*2^128 and multiplies with math/bits. It absorbs single blocks and does
// everything that is easy to get subtly wrong and cheap to do once per
// call: converting between representations, adding up the vector lanes, the
// final reduction mod p = 2^130-5 and the addition of s. (The powers of r
// the vector code needs are computed by the vector code itself: seven
// dependent scalar multiplications cost as much as absorbing the blocks of a
// whole 1420-byte packet.)
//
// The vector code (amd64 with AVX-512 IFMA, see poly1305_amd64.s) holds the
// accumulator in radix 2^44 in eight lanes and only ever absorbs whole
// groups of eight blocks. Its contract: it receives lane 0 = the scalar
// accumulator (in radix 2^44) and lanes 1-7 = 0, and returns eight lane
// values whose sum is congruent mod p to the accumulator after those
// blocks, each limb below the bounds proven in the assembly (see
// combineLanes).
//
// Invariant of the scalar accumulator between blocks: h2 <= 4, that is
// h < 5*2^128 < 2p. Every function that produces an accumulator says why it
// keeps this.

const (
	mask44 = 1<<44 - 1

	// vecBlocks is how many blocks one step of the vector code absorbs.
	vecBlocks = 8
)

// poly is one Poly1305 computation. The zero value is not usable; call init.
type poly struct {
	h [3]uint64 // accumulator, radix 2^64, h[2] <= 4 between blocks
	r [2]uint64 // clamped r, r[0] and r[1] < 2^60
	s [2]uint64

	// vector says whether the IFMA code may be used.
	vector bool
}

// init starts a computation with the 32-byte one-time key r || s and clamps r
// as RFC 8439 §2.5 requires. vector selects the IFMA code where it exists.
func (p *poly) init(key *[32]byte, vector bool) {
	p.h = [3]uint64{}
	p.r[0] = binary.LittleEndian.Uint64(key[0:8]) & 0x0ffffffc0fffffff
	p.r[1] = binary.LittleEndian.Uint64(key[8:16]) & 0x0ffffffc0ffffffc
	p.s[0] = binary.LittleEndian.Uint64(key[16:24])
	p.s[1] = binary.LittleEndian.Uint64(key[24:32])
	p.vector = vector && haveIFMA
}

// wipe clears the key material and the accumulator, which would otherwise
// linger in the caller's stack frame.
func (p *poly) wipe() {
	*p = poly{}
}

// mulr returns h*r mod p for h < 2^131 (h2 <= 7) and a clamped r (r0, r1 <
// 2^60), partially reduced to below 2^130 + 2^128 (so h2 <= 4).
//
// Product: with X = 2^64, h*r = h0r0 + (h0r1 + h1r0)X + (h1r1 + h2r0)X^2 +
// h2r1 X^3, gathered into words t0..t3. h < 2^131 and r < 2^124 make it
// less than 2^255, so t3 < 2^63 and nothing is lost.
//
// Reduction: write the product as L + 2^130 H with L its low 130 bits. As
// 2^130 = 5 mod p, it equals L + 5H = L + 4H + H mod p. 4H is the product
// shifted right by 128 with the two low bits cleared, i.e. the words
// (t2 &^ 3, t3), and H is that shifted right by two more. H < 2^125, so
// the sum is below 2^130 + 5*2^125 < 2^130 + 2^128.
func mulr(h0, h1, h2, r0, r1 uint64) (uint64, uint64, uint64) {
	a1, a0 := bits.Mul64(h0, r0)
	b1, b0 := bits.Mul64(h0, r1)
	c1, c0 := bits.Mul64(h1, r0)
	d1, d0 := bits.Mul64(h1, r1)
	e := h2 * r0 // < 2^3 * 2^60, no overflow
	f := h2 * r1

	// Column X: a1 + b0 + c0. Column X^2: b1 + c1 + e (each hi word <
	// 2^60, e < 2^63, so this sum and the two carries from column X fit
	// in 64 bits) + d0, whose carry goes to column X^3.
	t0 := a0
	t1, c := bits.Add64(a1, b0, 0)
	t2 := b1 + c1 + e + c
	t1, c = bits.Add64(t1, c0, 0)
	t2 += c
	t2, c = bits.Add64(t2, d0, 0)
	t3 := d1 + f + c

	g0, g1 := t2&^3, t3           // 4H
	q0, q1 := g0>>2|g1<<62, g1>>2 // H
	h0, c = bits.Add64(t0, g0, 0) // L + 4H
	h1, c = bits.Add64(t1, g1, c)
	h2 = t2&3 + c
	h0, c = bits.Add64(h0, q0, 0) // + H
	h1, c = bits.Add64(h1, q1, c)
	h2 += c
	return h0, h1, h2
}

// reduce3 partially reduces w0 + w1*2^64 + w2*2^128 for w2 < 2^62: with
// H = w2 >> 2 (the part at 2^130 and above) the value is L + 5H mod p.
// 5H < 2^63 fits in a word, and the result is below 2^130 + 2^63, so h2 <= 4.
func reduce3(w0, w1, w2 uint64) (uint64, uint64, uint64) {
	q := w2 >> 2
	q5 := q + q<<2
	var c uint64
	w0, c = bits.Add64(w0, q5, 0)
	w1, c = bits.Add64(w1, 0, c)
	return w0, w1, w2&3 + c
}

// reduceFull returns h mod p for h < 2p (which the invariant h2 <= 4 gives:
// 5*2^128 < 2^131 - 10), fully reduced. It computes g = h - p = h + 5 - 2^130
// and takes it when h + 5 reaches 2^130, without branching on secret data.
func reduceFull(h0, h1, h2 uint64) (uint64, uint64, uint64) {
	g0, c := bits.Add64(h0, 5, 0)
	g1, c := bits.Add64(h1, 0, c)
	g2 := h2 + c
	// h < 2p means h + 5 < 2^131, so g2>>2 is 0 or 1: 1 exactly when h >= p.
	m := -(g2 >> 2)
	h0 ^= m & (h0 ^ g0)
	h1 ^= m & (h1 ^ g1)
	h2 ^= m & (h2 ^ (g2 & 3))
	return h0, h1, h2
}

// blocks absorbs len(m)/16 full blocks (len(m) must be a multiple of 16),
// each with the 2^128 bit RFC 8439 adds to a full block. Whole groups of
// eight go to the vector code when enabled, the rest one at a time.
func (p *poly) blocks(m []byte) {
	if p.vector && len(m) >= 16*vecBlocks {
		n := len(m) &^ (16*vecBlocks - 1)
		p.vectorBlocks(m[:n])
		m = m[n:]
	}
	for len(m) >= 16 {
		p.block(binary.LittleEndian.Uint64(m[0:8]), binary.LittleEndian.Uint64(m[8:16]), 1)
		m = m[16:]
	}
}

// block absorbs one block m0 + m1*2^64 + hibit*2^128: h = (h + m) * r.
// h2 <= 4 before, so h + m has h2 <= 4 + 1 + 1 (hibit and the carry) < 8,
// which is what mulr needs.
func (p *poly) block(m0, m1, hibit uint64) {
	h0, c := bits.Add64(p.h[0], m0, 0)
	h1, c := bits.Add64(p.h[1], m1, c)
	h2 := p.h[2] + hibit + c
	p.h[0], p.h[1], p.h[2] = mulr(h0, h1, h2, p.r[0], p.r[1])
}

// padded absorbs m as full blocks, the last one zero-padded to 16 bytes: the
// RFC 8439 §2.8 AEAD padding (not the 0x01 byte of a short final block).
func (p *poly) padded(m []byte) {
	full := len(m) &^ 15
	p.blocks(m[:full])
	if full < len(m) {
		var buf [16]byte
		copy(buf[:], m[full:])
		p.blocks(buf[:])
	}
}

// sum absorbs m as a complete Poly1305 message (a short final block gets
// the 0x01 byte and no 2^128 bit, RFC 8439 §2.5) and writes the tag.
func (p *poly) sum(m []byte, tag *[16]byte) {
	full := len(m) &^ 15
	p.blocks(m[:full])
	if full < len(m) {
		var buf [16]byte
		buf[copy(buf[:], m[full:])] = 1
		p.block(binary.LittleEndian.Uint64(buf[0:8]), binary.LittleEndian.Uint64(buf[8:16]), 0)
	}
	p.finish(tag)
}

// finish writes the tag: (h mod p) + s mod 2^128.
func (p *poly) finish(tag *[16]byte) {
	h0, h1, _ := reduceFull(p.h[0], p.h[1], p.h[2])
	h0, c := bits.Add64(h0, p.s[0], 0)
	h1, _ = bits.Add64(h1, p.s[1], c)
	binary.LittleEndian.PutUint64(tag[0:8], h0)
	binary.LittleEndian.PutUint64(tag[8:16], h1)
}

// to44 splits a partially reduced h (h2 <= 7) into radix 2^44 limbs
// (h0 & (2^44-1), the next 44 bits, the rest from bit 88 on): an exact
// change of representation, no reduction. The top limb is below 2^43.
func to44(h0, h1, h2 uint64) (l0, l1, l2 uint64) {
	return h0 & mask44, (h0>>44 | h1<<20) & mask44, h1>>24 | h2<<40
}

// combineLanes adds up the eight radix 2^44 lanes the vector code returns
// and converts the sum to a partially reduced radix 2^64 accumulator.
//
// The assembly guarantees per lane limb 0 < 2^44, limb 1 < 2^44 + 2^14 and
// limb 2 < 2^42 + 2^10, so the limb sums are a0 < 2^47, a1 < 2^48,
// a2 < 2^46 and nothing overflows. The sum a0 + a1*2^44 + a2*2^88 is split
// into words: a1*2^44 contributes a1<<44 (mod 2^64) to word 0 and a1>>20 to word 1,
// a2*2^88 contributes a2<<24 (mod 2^64) to word 1 and a2>>40 to word 2,
// with carries. The value is below 2^135, so w2 < 2^7 and reduce3 applies.
func combineLanes(v *[3][8]uint64) (uint64, uint64, uint64) {
	var a0, a1, a2 uint64
	for j := range 8 {
		a0 += v[0][j]
		a1 += v[1][j]
		a2 += v[2][j]
	}
	w0, c := bits.Add64(a0, a1<<44, 0)
	w1, c := bits.Add64(a1>>20, a2<<24, c)
	w2 := a2>>40 + c
	return reduce3(w0, w1, w2)
}

// vectorBlocks absorbs m (a non-zero multiple of 128 bytes) with the vector
// code: the accumulator goes into lane 0, the lanes come back and are
// summed. This is exact: lane 0 starts at h and the others at 0, so with n
// blocks the lanes' sum is (h + m_1) r^n + m_2 r^(n-1) + ... + m_n r, the
// same as n scalar steps.
//
// The vector code computes r^1..r^8 itself on each call (about as long as
// two groups of blocks take): short messages never pay for them, and the AEAD
// makes at most two calls per message (AAD and ciphertext).
func (p *poly) vectorBlocks(m []byte) {
	var lanes [3][8]uint64
	h0, h1, h2 := to44(p.h[0], p.h[1], p.h[2])
	r0, r1, r2 := to44(p.r[0], p.r[1], 0)
	polyBlocksVec(&lanes, m, h0, h1, h2, r0, r1, r2)
	p.h[0], p.h[1], p.h[2] = combineLanes(&lanes)
	clear(lanes[:])
}
