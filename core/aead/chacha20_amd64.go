// SPDX-License-Identifier: MIT

//go:build amd64 && !purego

package aead

import "golang.org/x/sys/cpu"

// haveAVX512 reports whether the AEAD's assembly can run: for ChaCha20
// AVX512F for the ZMM arithmetic and VPROLD, AVX512VL for clearing X16-X31
// on the way out, AVX512BW for the byte-masked tail loads and stores; for
// Poly1305 AVX512IFMA (haveIFMA). x/sys/cpu only sets these when the OS
// saves the AVX-512 register state.
var haveAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && haveIFMA

// xorKeyStreamAVX512 XORs len(src) bytes of ChaCha20 keystream into dst
// (len(dst) >= len(src); dst and src may overlap exactly). The keystream
// starts at block counter state[12]; if first is not nil, that block is
// written to *first instead and the data uses the blocks after it.
// state is only read.
//
//go:noescape
func xorKeyStreamAVX512(dst, src []byte, state *[16]uint32, first *[64]byte)

// xorKeyStream is the portable name the AEAD code calls.
func xorKeyStream(dst, src []byte, state *[16]uint32, first *[64]byte) {
	xorKeyStreamAVX512(dst, src, state, first)
}
