// SPDX-License-Identifier: MIT

//go:build !amd64 || purego

package aead

// haveIFMA is false without the amd64 assembly: poly uses only its scalar
// code.
const haveIFMA = false

// polyBlocksVec is never reached: poly.vector is only set when haveIFMA is.
func polyBlocksVec(out *[3][8]uint64, m []byte, h0, h1, h2, r0, r1, r2 uint64) {
	panic("aead: AVX-512 IFMA Poly1305 is not available in this build")
}

// polyPowersVec is never reached (tests skip without haveIFMA).
func polyPowersVec(out *[10][8]uint64, r0, r1, r2 uint64) {
	panic("aead: AVX-512 IFMA Poly1305 is not available in this build")
}
