// SPDX-License-Identifier: MIT

//go:build amd64 && !purego

package aead

import "golang.org/x/sys/cpu"

// haveIFMA reports whether poly1305_amd64.s can run: AVX512F for the ZMM
// arithmetic and VPERMT2Q, AVX512IFMA for VPMADD52LUQ/HUQ. x/sys/cpu only
// sets these when the OS saves the AVX-512 register state.
var haveIFMA = cpu.X86.HasAVX512F && cpu.X86.HasAVX512IFMA

// polyBlocksIFMA absorbs groups*128 bytes at m into eight radix 2^44 lanes
// that start as (h0, h1, h2) in lane 0 and zero in the others, multiplying
// by r^8 after each group but the last and lane j by r^(8-j) after the last,
// and stores the lanes in out (see poly1305_amd64.s). r0, r1, r2 are r in
// radix 2^44; the powers are computed on entry. groups must be at least 1.
//
//go:noescape
func polyBlocksIFMA(out *[3][8]uint64, m *byte, groups int, h0, h1, h2, r0, r1, r2 uint64)

// polyPowersIFMA stores the multipliers polyBlocksIFMA computes from r: lane
// j of out[0:5] is r^(8-j), every lane of out[5:10] is r^8, each as three
// limbs and 20 times limbs 1 and 2. Only tests call it.
//
//go:noescape
func polyPowersIFMA(out *[10][8]uint64, r0, r1, r2 uint64)

// polyBlocksVec and polyPowersVec are the portable names for the above.
func polyBlocksVec(out *[3][8]uint64, m []byte, h0, h1, h2, r0, r1, r2 uint64) {
	polyBlocksIFMA(out, &m[0], len(m)/128, h0, h1, h2, r0, r1, r2)
}

func polyPowersVec(out *[10][8]uint64, r0, r1, r2 uint64) {
	polyPowersIFMA(out, r0, r1, r2)
}
