// SPDX-License-Identifier: MIT

//go:build linux && amd64 && !purego

#include "textflag.h"

// sum64Asm adds up b's little-endian 16-bit words for sum16; see
// checksum_amd64.go for the contract.
//
// Vector part, 32-byte blocks. Each word w is XORed with 0x8000, which
// read as a signed word is w-32768, so that VPMADDWD against words of 1
// (a signed multiply-add of word pairs into 32-bit lanes) yields
// lo+hi-65536 for each pair of words: three instructions per 32 bytes,
// where widening with unpacks or shift-and-mask takes four. Four
// accumulators keep the adds independent.
//
// Why no 32-bit lane can overflow: the blocks are taken in chunks of
// n <= MAX_BLOCKS = 32768, each reduced to 64 bits before the next. Within
// a chunk every block adds exactly one term to lane position j (0..7) of
// exactly one accumulator, and each term lies in [-65536, 65534]. So any
// sum of terms for one lane position - a single accumulator's lane at any
// time, or the four accumulators added together - lies in
// [-32768*65536, 32768*65534] = [-2^31, 2^31-65536], inside int32. Adding
// back the bias n*65536 <= 2^31 (mod 2^32) then leaves the true sum of
// lo+hi over n blocks, at most 32768*131070 = 2^32-2^17, so the uint32 lane
// is exact. The eight lanes of a chunk are summed in 64 bits (< 2^35), and
// chunks with an end-around carry.
//
// Scalar part: the last < 32 bytes are added as 8-, 4-, 2- and 1-byte
// pieces with an end-around carry. Every load starts at an even offset of
// b, so each byte keeps the weight of its byte position in a little-endian
// word (an odd last byte is a low byte).
//
// An end-around-carry add of a nonzero value never yields zero, and the
// chunk sums are exact, so the result is zero only for all-zero data.

#define MAX_BLOCKS 32768

// func sum64Asm(b []byte) uint64
TEXT ·sum64Asm(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	XORL AX, AX             // AX = scalar sum
	XORL DI, DI             // DI = vector sum
	MOVQ CX, BX
	SHRQ $5, BX             // BX = blocks not yet taken into a chunk
	ANDQ $31, CX            // CX = bytes left for the scalar part

	VPCMPEQW Y15, Y15, Y15
	VPSRLW   $15, Y15, Y14  // 0x0001 in every word
	VPSLLW   $15, Y15, Y15  // 0x8000 in every word
	VPXOR    Y8, Y8, Y8     // zero

chunk:
	MOVQ    $MAX_BLOCKS, R8
	CMPQ    BX, R8
	CMOVQCS BX, R8          // R8 = n = blocks in this chunk
	SUBQ    R8, BX
	MOVQ    R8, DX          // DX = blocks of the chunk still to add
	VPXOR   Y4, Y4, Y4
	VPXOR   Y5, Y5, Y5
	VPXOR   Y6, Y6, Y6
	VPXOR   Y7, Y7, Y7

	SUBQ $4, DX
	JB   blocks1

blocks4:
	VPXOR    0(SI), Y15, Y0
	VPXOR    32(SI), Y15, Y1
	VPXOR    64(SI), Y15, Y2
	VPXOR    96(SI), Y15, Y3
	VPMADDWD Y14, Y0, Y0
	VPMADDWD Y14, Y1, Y1
	VPMADDWD Y14, Y2, Y2
	VPMADDWD Y14, Y3, Y3
	VPADDD   Y0, Y4, Y4
	VPADDD   Y1, Y5, Y5
	VPADDD   Y2, Y6, Y6
	VPADDD   Y3, Y7, Y7
	ADDQ     $128, SI
	SUBQ     $4, DX
	JAE      blocks4

blocks1:
	ADDQ $4, DX             // 0..3 blocks left
	JZ   reduce

block1:
	VPXOR    (SI), Y15, Y0
	VPMADDWD Y14, Y0, Y0
	VPADDD   Y0, Y4, Y4
	ADDQ     $32, SI
	DECQ     DX
	JNZ      block1

reduce:
	VPADDD Y5, Y4, Y4
	VPADDD Y7, Y6, Y6
	VPADDD Y6, Y4, Y4

	// Take the bias back out: n*65536 in every lane.
	SHLQ         $16, R8
	VMOVQ        R8, X0
	VPBROADCASTD X0, Y0
	VPADDD       Y0, Y4, Y4

	// Eight exact uint32 lanes to one 64-bit sum: even and odd lanes
	// zero-extended in place and added as four qwords, then across.
	VPBLENDD     $0xaa, Y8, Y4, Y2
	VPSRLQ       $32, Y4, Y3
	VPADDQ       Y3, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDQ       X3, X2, X2
	VPSHUFD      $0x4e, X2, X3
	VPADDQ       X3, X2, X2
	VMOVQ        X2, R9
	ADDQ         R9, DI
	ADCQ         $0, DI

	TESTQ BX, BX
	JNZ   chunk
	VZEROUPPER

	// The scalar part below does not depend on DI, so the CPU can
	// overlap it with the reduction above.

words:
	CMPQ CX, $8
	JB   tail4
	ADDQ (SI), AX
	ADCQ $0, AX
	ADDQ $8, SI
	SUBQ $8, CX
	JMP  words

tail4:
	TESTQ $4, CX
	JZ    tail2
	MOVL  (SI), DX
	ADDQ  DX, AX
	ADCQ  $0, AX
	ADDQ  $4, SI

tail2:
	TESTQ   $2, CX
	JZ      tail1
	MOVWLZX (SI), DX
	ADDQ    DX, AX
	ADCQ    $0, AX
	ADDQ    $2, SI

tail1:
	TESTQ   $1, CX
	JZ      done
	MOVBLZX (SI), DX
	ADDQ    DX, AX
	ADCQ    $0, AX

done:
	ADDQ DI, AX
	ADCQ $0, AX
	MOVQ AX, ret+24(FP)
	RET
