// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"encoding/binary"
	"math/bits"
)

// The Internet checksum (RFC 1071) as the offload code needs it: the ones'
// complement sum of 16-bit big-endian words, folded, not yet complemented,
// so that partial sums (pseudo-header, header, payload) can be added up.
//
// The sum is taken over 64-bit little-endian loads with an end-around carry
// and byte-swapped once at the end: ones' complement addition does not care
// about byte order as long as the whole sum is taken in one order (RFC 1071
// §2(B)). That is about eight times fewer additions than a word-by-word
// loop, which matters because every segment of a 64 KiB super-packet has
// its TCP checksum computed here. On amd64 with AVX2, sum64Asm
// (checksum_amd64.s) takes the same sum 32 bytes a step in vector
// registers from 128 bytes up, some four times as fast on a 1400-byte
// segment; sum64Generic below is the portable loop.

// sum16 returns the folded ones' complement sum of b added to initial. b
// must start at an even offset of the checksummed data; only the last
// piece of a sum may have an odd length.
//
// The assembly, where there is one, is called from here rather than from
// a dispatching function in between, which would cost a call on every
// segment. On other architectures haveAsmSum is a false constant and the
// branch compiles away.
func sum16(b []byte, initial uint16) uint16 {
	if haveAsmSum && len(b) >= minAsmSumLen {
		return finishSum(sum64Asm(b), initial)
	}
	return finishSum(sum64Generic(b), initial)
}

// finishSum turns a 64-bit accumulator into sum16's result. The assembly's
// accumulator differs from sum64Generic's, but both are zero exactly when
// every byte is zero and otherwise congruent modulo 0xffff to the sum of
// the little-endian 16-bit words, and fold64 maps all such values to the
// same representative in [1, 0xffff] (0 only for all-zero data): the
// results agree bit for bit, down to which of the two ones' complement
// zeros comes out.
func finishSum(acc uint64, initial uint16) uint16 {
	return add16(bits.ReverseBytes16(fold64(acc)), initial)
}

// sum64Generic is the portable accumulator behind sum16: the end-around
// carry sum of b taken as little-endian 64-bit words, the last partial
// word zero-padded at the top.
func sum64Generic(b []byte) uint64 {
	var acc, carry uint64
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[0:8]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[8:16]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[16:24]), carry)
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b[24:32]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.LittleEndian.Uint64(b), carry)
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	acc, carry = bits.Add64(acc, tail, carry)
	acc, carry = bits.Add64(acc, 0, carry)
	return acc + carry // only reached when acc wrapped to 0, so no new carry
}

// fold64 folds a 64-bit ones' complement accumulator to 16 bits.
func fold64(x uint64) uint16 {
	x = x>>32 + x&0xffffffff
	x = x>>16 + x&0xffff
	x = x>>16 + x&0xffff
	x = x>>16 + x&0xffff
	return uint16(x)
}

// add16 is ones' complement addition of two folded sums.
func add16(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s>>16 + s&0xffff)
}

// pseudoSum returns the folded sum of the TCP/UDP pseudo-header (RFC 793
// §3.1, RFC 8200 §8.1): source and destination address, protocol and the
// transport length.
func pseudoSum(src, dst []byte, proto uint8, l4Len int) uint16 {
	s := sum16(src, 0)
	s = sum16(dst, s)
	s = add16(s, uint16(proto))
	// A jumbo length does not fit 16 bits; the IPv6 pseudo-header has a
	// 32-bit length, whose high word adds in like any other.
	s = add16(s, uint16(l4Len))
	return add16(s, uint16(l4Len>>16))
}

// ipv4HeaderChecksum computes the checksum of an IPv4 header whose checksum
// field is ignored (treated as zero).
func ipv4HeaderChecksum(h []byte) uint16 {
	s := sum16(h[:10], 0)
	s = sum16(h[12:], s)
	return ^s
}
