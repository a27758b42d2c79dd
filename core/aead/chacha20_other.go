// SPDX-License-Identifier: MIT

//go:build !amd64 || purego

package aead

// haveAVX512 is false without the amd64 assembly, so New always returns
// x/crypto's implementation.
const haveAVX512 = false

// xorKeyStream is never reached: chachaAVX512 is only constructed when
// haveAVX512 is true (tests skip otherwise).
func xorKeyStream(dst, src []byte, state *[16]uint32, first *[64]byte) {
	panic("aead: AVX-512 ChaCha20 is not available in this build")
}
