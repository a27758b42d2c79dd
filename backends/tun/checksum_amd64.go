// SPDX-License-Identifier: MIT

//go:build linux && amd64 && !purego

package tun

import "golang.org/x/sys/cpu"

// haveAsmSum reports whether sum16 may use sum64Asm. x/sys/cpu only sets
// HasAVX2 when the OS also saves the YMM register state.
var haveAsmSum = cpu.X86.HasAVX2

// minAsmSumLen is where sum16 starts to use sum64Asm. Below it the Go
// loop is as fast or faster (they cross at about 100 bytes here): an
// assembly function gets its arguments and result through the stack, and
// the vector setup and reduction cost a few dozen cycles, while the Go
// loop starts at once and adds 8 bytes a cycle.
const minAsmSumLen = 128

// sum64Asm returns an accumulator for b with the properties finishSum
// relies on: zero exactly when every byte of b is zero, otherwise
// congruent modulo 0xffff to the sum of b's little-endian 16-bit words
// (an odd last byte as the low byte of a word). It needs AVX2 and takes
// any length, short ones correctly but not faster than the Go loop.
//
//go:noescape
func sum64Asm(b []byte) uint64
