// SPDX-License-Identifier: MIT

//go:build amd64 && !purego

#include "textflag.h"

// ChaCha20 keystream XOR (RFC 8439 §2.3-2.4) with AVX-512.
//
// Two layouts, picked by how much keystream a batch has to produce:
//
// Wide (more than 12 blocks): "one register per state word". Zi holds word
// i of the state for 16 consecutive blocks, one block per 32-bit lane, so a
// quarter round on four columns is twelve whole-register instructions and
// the diagonal round is just a different choice of registers. VPROLD does
// each rotation in one instruction (AVX2 needs shift/shift/or or a byte
// shuffle), which is where the speed-up over AVX2 comes from. The price is a
// 16x16 transpose of 32-bit words at the end (unpacks plus 128-bit lane
// shuffles), small next to the 20 rounds. About 0.64 cycles/byte on the
// Sapphire Rapids machine this was measured on.
//
// Row (12 blocks or fewer): the usual 4x4 matrix in four registers, one row
// per register, one block per 128-bit lane, so a ZMM register carries a row
// of four blocks; one, two or three register sets carry 4, 8 or 12 blocks.
// Diagonal rounds need VPSHUFD to rotate rows. This costs more instructions
// per block than the wide layout but avoids its 16-block granularity: a
// short packet plus the Poly1305 key block is two blocks, and computing 16
// for it would waste most of the work. With one or two sets a batch is
// latency bound (about 240 cycles for 20 rounds), which is as fast as so
// little data can go.
//
// Register use:
//	AX      pointer to the 16-word input state (only read)
//	SI, DI  source and destination cursors
//	CX      bytes of source left to process
//	R8      where to put the first keystream block, or nil
//	R12     block counter of the next batch
//	BX      64-byte-aligned 1 KiB keystream buffer in this frame
//	R9      offset of the first buffered block that is still unused
//	R10     end of the buffered keystream
//	DX      round loop counter; R11 scratch
//	wide:   Z0-Z15 state words, Z16-Z27 transpose temporaries, Z31 lane
//	        counters
//	row:    register sets Z0-Z3, Z4-Z7, Z16-Z19; input rows Z8-Z10 and
//	        the three counter rows Z11-Z13; Z8-Z11 temporaries afterwards

// Lane offsets added to the broadcast block counter (wide layout).
DATA laneIota<>+0x00(SB)/4, $0
DATA laneIota<>+0x04(SB)/4, $1
DATA laneIota<>+0x08(SB)/4, $2
DATA laneIota<>+0x0c(SB)/4, $3
DATA laneIota<>+0x10(SB)/4, $4
DATA laneIota<>+0x14(SB)/4, $5
DATA laneIota<>+0x18(SB)/4, $6
DATA laneIota<>+0x1c(SB)/4, $7
DATA laneIota<>+0x20(SB)/4, $8
DATA laneIota<>+0x24(SB)/4, $9
DATA laneIota<>+0x28(SB)/4, $10
DATA laneIota<>+0x2c(SB)/4, $11
DATA laneIota<>+0x30(SB)/4, $12
DATA laneIota<>+0x34(SB)/4, $13
DATA laneIota<>+0x38(SB)/4, $14
DATA laneIota<>+0x3c(SB)/4, $15
GLOBL laneIota<>(SB), RODATA|NOPTR, $64

// Counter offsets for the row layout: word 0 of 128-bit lane L is 4s+L for
// register set s; the nonce words get 0.
DATA rowIota<>+0x00(SB)/4, $0
DATA rowIota<>+0x04(SB)/4, $0
DATA rowIota<>+0x08(SB)/4, $0
DATA rowIota<>+0x0c(SB)/4, $0
DATA rowIota<>+0x10(SB)/4, $1
DATA rowIota<>+0x14(SB)/4, $0
DATA rowIota<>+0x18(SB)/4, $0
DATA rowIota<>+0x1c(SB)/4, $0
DATA rowIota<>+0x20(SB)/4, $2
DATA rowIota<>+0x24(SB)/4, $0
DATA rowIota<>+0x28(SB)/4, $0
DATA rowIota<>+0x2c(SB)/4, $0
DATA rowIota<>+0x30(SB)/4, $3
DATA rowIota<>+0x34(SB)/4, $0
DATA rowIota<>+0x38(SB)/4, $0
DATA rowIota<>+0x3c(SB)/4, $0
DATA rowIota<>+0x40(SB)/4, $4
DATA rowIota<>+0x44(SB)/4, $0
DATA rowIota<>+0x48(SB)/4, $0
DATA rowIota<>+0x4c(SB)/4, $0
DATA rowIota<>+0x50(SB)/4, $5
DATA rowIota<>+0x54(SB)/4, $0
DATA rowIota<>+0x58(SB)/4, $0
DATA rowIota<>+0x5c(SB)/4, $0
DATA rowIota<>+0x60(SB)/4, $6
DATA rowIota<>+0x64(SB)/4, $0
DATA rowIota<>+0x68(SB)/4, $0
DATA rowIota<>+0x6c(SB)/4, $0
DATA rowIota<>+0x70(SB)/4, $7
DATA rowIota<>+0x74(SB)/4, $0
DATA rowIota<>+0x78(SB)/4, $0
DATA rowIota<>+0x7c(SB)/4, $0
DATA rowIota<>+0x80(SB)/4, $8
DATA rowIota<>+0x84(SB)/4, $0
DATA rowIota<>+0x88(SB)/4, $0
DATA rowIota<>+0x8c(SB)/4, $0
DATA rowIota<>+0x90(SB)/4, $9
DATA rowIota<>+0x94(SB)/4, $0
DATA rowIota<>+0x98(SB)/4, $0
DATA rowIota<>+0x9c(SB)/4, $0
DATA rowIota<>+0xa0(SB)/4, $10
DATA rowIota<>+0xa4(SB)/4, $0
DATA rowIota<>+0xa8(SB)/4, $0
DATA rowIota<>+0xac(SB)/4, $0
DATA rowIota<>+0xb0(SB)/4, $11
DATA rowIota<>+0xb4(SB)/4, $0
DATA rowIota<>+0xb8(SB)/4, $0
DATA rowIota<>+0xbc(SB)/4, $0
GLOBL rowIota<>(SB), RODATA|NOPTR, $192

// Four quarter rounds (RFC 8439 §2.1) side by side, wide layout.
// Interleaving four independent dependency chains keeps both vector ports
// busy; a single chain would be latency bound.
#define QR4(a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3) \
	VPADDD b0, a0, a0; VPADDD b1, a1, a1; VPADDD b2, a2, a2; VPADDD b3, a3, a3; \
	VPXORD a0, d0, d0; VPXORD a1, d1, d1; VPXORD a2, d2, d2; VPXORD a3, d3, d3; \
	VPROLD $16, d0, d0; VPROLD $16, d1, d1; VPROLD $16, d2, d2; VPROLD $16, d3, d3; \
	VPADDD d0, c0, c0; VPADDD d1, c1, c1; VPADDD d2, c2, c2; VPADDD d3, c3, c3; \
	VPXORD c0, b0, b0; VPXORD c1, b1, b1; VPXORD c2, b2, b2; VPXORD c3, b3, b3; \
	VPROLD $12, b0, b0; VPROLD $12, b1, b1; VPROLD $12, b2, b2; VPROLD $12, b3, b3; \
	VPADDD b0, a0, a0; VPADDD b1, a1, a1; VPADDD b2, a2, a2; VPADDD b3, a3, a3; \
	VPXORD a0, d0, d0; VPXORD a1, d1, d1; VPXORD a2, d2, d2; VPXORD a3, d3, d3; \
	VPROLD $8, d0, d0; VPROLD $8, d1, d1; VPROLD $8, d2, d2; VPROLD $8, d3, d3; \
	VPADDD d0, c0, c0; VPADDD d1, c1, c1; VPADDD d2, c2, c2; VPADDD d3, c3, c3; \
	VPXORD c0, b0, b0; VPXORD c1, b1, b1; VPXORD c2, b2, b2; VPXORD c3, b3, b3; \
	VPROLD $7, b0, b0; VPROLD $7, b1, b1; VPROLD $7, b2, b2; VPROLD $7, b3, b3

// A column round followed by a diagonal round (RFC 8439 §2.3), wide layout.
#define DOUBLEROUND(x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15) \
	QR4(x0, x4, x8, x12, x1, x5, x9, x13, x2, x6, x10, x14, x3, x7, x11, x15); \
	QR4(x0, x5, x10, x15, x1, x6, x11, x12, x2, x7, x8, x13, x3, x4, x9, x14)

// A quarter round on whole rows (row layout), for one register set.
#define ROWQR(a, b, c, d) \
	VPADDD b, a, a; VPXORD a, d, d; VPROLD $16, d, d; \
	VPADDD d, c, c; VPXORD c, b, b; VPROLD $12, b, b; \
	VPADDD b, a, a; VPXORD a, d, d; VPROLD $8, d, d; \
	VPADDD d, c, c; VPXORD c, b, b; VPROLD $7, b, b

// The same for two and three register sets, interleaved so that one set's
// latency hides behind the others' work.
#define ROWQR2(a0, b0, c0, d0, a1, b1, c1, d1) \
	VPADDD b0, a0, a0; VPADDD b1, a1, a1; \
	VPXORD a0, d0, d0; VPXORD a1, d1, d1; \
	VPROLD $16, d0, d0; VPROLD $16, d1, d1; \
	VPADDD d0, c0, c0; VPADDD d1, c1, c1; \
	VPXORD c0, b0, b0; VPXORD c1, b1, b1; \
	VPROLD $12, b0, b0; VPROLD $12, b1, b1; \
	VPADDD b0, a0, a0; VPADDD b1, a1, a1; \
	VPXORD a0, d0, d0; VPXORD a1, d1, d1; \
	VPROLD $8, d0, d0; VPROLD $8, d1, d1; \
	VPADDD d0, c0, c0; VPADDD d1, c1, c1; \
	VPXORD c0, b0, b0; VPXORD c1, b1, b1; \
	VPROLD $7, b0, b0; VPROLD $7, b1, b1

#define ROWQR3(a0, b0, c0, d0, a1, b1, c1, d1, a2, b2, c2, d2) \
	VPADDD b0, a0, a0; VPADDD b1, a1, a1; VPADDD b2, a2, a2; \
	VPXORD a0, d0, d0; VPXORD a1, d1, d1; VPXORD a2, d2, d2; \
	VPROLD $16, d0, d0; VPROLD $16, d1, d1; VPROLD $16, d2, d2; \
	VPADDD d0, c0, c0; VPADDD d1, c1, c1; VPADDD d2, c2, c2; \
	VPXORD c0, b0, b0; VPXORD c1, b1, b1; VPXORD c2, b2, b2; \
	VPROLD $12, b0, b0; VPROLD $12, b1, b1; VPROLD $12, b2, b2; \
	VPADDD b0, a0, a0; VPADDD b1, a1, a1; VPADDD b2, a2, a2; \
	VPXORD a0, d0, d0; VPXORD a1, d1, d1; VPXORD a2, d2, d2; \
	VPROLD $8, d0, d0; VPROLD $8, d1, d1; VPROLD $8, d2, d2; \
	VPADDD d0, c0, c0; VPADDD d1, c1, c1; VPADDD d2, c2, c2; \
	VPXORD c0, b0, b0; VPXORD c1, b1, b1; VPXORD c2, b2, b2; \
	VPROLD $7, b0, b0; VPROLD $7, b1, b1; VPROLD $7, b2, b2

// Line the diagonals up as columns, and back again. Row b stays put and
// rows a, c, d move (a right by one word, c left by one, d by two): b is the
// last row a quarter round writes and the first the next one reads, so
// shuffling it would put a shuffle on the critical path of every half
// round, while a, c and d are final early enough for their shuffles to
// overlap the rest of the round. That matters here because a batch of 4 or
// 8 blocks is latency bound.
#define DIAGONALIZE(a, c, d) \
	VPSHUFD $0x93, a, a; VPSHUFD $0x39, c, c; VPSHUFD $0x4e, d, d

#define UNDIAGONALIZE(a, c, d) \
	VPSHUFD $0x39, a, a; VPSHUFD $0x93, c, c; VPSHUFD $0x4e, d, d

// Transpose 32-bit words inside each 128-bit lane of r0..r3 (a 4x4
// transpose per lane). Afterwards lane L of the register for position p holds
// the four words of block 4L+p: p=0 in r0, p=1 in t0, p=2 in r2, p=3 in r3.
#define TRANSPOSE4(r0, r1, r2, r3, t0, t1) \
	VPUNPCKLDQ r1, r0, t0; \
	VPUNPCKHDQ r1, r0, r1; \
	VPUNPCKLDQ r3, r2, t1; \
	VPUNPCKHDQ r3, r2, r3; \
	VPUNPCKLQDQ t1, t0, r0; \
	VPUNPCKHQDQ t1, t0, t0; \
	VPUNPCKLQDQ r3, r1, r2; \
	VPUNPCKHQDQ r3, r1, r3

// 4x4 transpose of 128-bit lanes: lane j of a, b, c, d becomes lane 0, 1,
// 2, 3 of output j (a, b, c, d again). With a..d holding words 0-3, 4-7,
// 8-11, 12-15 of four blocks, one block per lane, each output register is
// then one whole block.
#define LANES(a, b, c, d, t0, t1, t2, t3) \
	VSHUFI32X4 $0x44, b, a, t0; \
	VSHUFI32X4 $0xee, b, a, t1; \
	VSHUFI32X4 $0x44, d, c, t2; \
	VSHUFI32X4 $0xee, d, c, t3; \
	VSHUFI32X4 $0x88, t2, t0, a; \
	VSHUFI32X4 $0xdd, t2, t0, b; \
	VSHUFI32X4 $0x88, t3, t1, c; \
	VSHUFI32X4 $0xdd, t3, t1, d

// XOR a 64-byte keystream block with the source and store it.
#define XOR_STORE(r, off) \
	VPXORQ off(SI), r, r; \
	VMOVDQU64 r, off(DI)

// func xorKeyStreamAVX512(dst, src []byte, state *[16]uint32, first *[64]byte)
TEXT ·xorKeyStreamAVX512(SB), 0, $1088-64
	MOVQ dst_base+0(FP), DI
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), CX
	MOVQ state+48(FP), AX
	MOVQ first+56(FP), R8
	MOVL 48(AX), R12

	// 1 KiB of keystream buffer, 64-byte aligned, in the local frame.
	LEAQ 63(SP), BX
	ANDQ $-64, BX

	// With a first-block destination the first batch always goes through
	// the buffer: the block at offset 0 is diverted and data starts at 64.
	XORQ  R9, R9
	TESTQ R8, R8
	JZ    next
	MOVQ  $64, R9
	JMP   choose

next:
	TESTQ CX, CX
	JZ    done

choose:
	LEAQ (CX)(R9*1), R11
	CMPQ R11, $768
	JBE  row

	// Wide layout, 16 blocks. The lane counters wrap modulo 2^32 like the
	// RFC's 32-bit counter; Seal's length limit keeps that from happening.
	VPBROADCASTD R12, Z31
	VPADDD       laneIota<>(SB), Z31, Z31
	ADDL         $16, R12
	VPBROADCASTD 0(AX), Z0
	VPBROADCASTD 4(AX), Z1
	VPBROADCASTD 8(AX), Z2
	VPBROADCASTD 12(AX), Z3
	VPBROADCASTD 16(AX), Z4
	VPBROADCASTD 20(AX), Z5
	VPBROADCASTD 24(AX), Z6
	VPBROADCASTD 28(AX), Z7
	VPBROADCASTD 32(AX), Z8
	VPBROADCASTD 36(AX), Z9
	VPBROADCASTD 40(AX), Z10
	VPBROADCASTD 44(AX), Z11
	VMOVDQA64    Z31, Z12
	VPBROADCASTD 52(AX), Z13
	VPBROADCASTD 56(AX), Z14
	VPBROADCASTD 60(AX), Z15
	MOVQ         $10, DX

wideRounds:
	DOUBLEROUND(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15)
	DECQ DX
	JNZ  wideRounds

	// Add the input words back in (RFC 8439 §2.3).
	VPADDD.BCST 0(AX), Z0, Z0
	VPADDD.BCST 4(AX), Z1, Z1
	VPADDD.BCST 8(AX), Z2, Z2
	VPADDD.BCST 12(AX), Z3, Z3
	VPADDD.BCST 16(AX), Z4, Z4
	VPADDD.BCST 20(AX), Z5, Z5
	VPADDD.BCST 24(AX), Z6, Z6
	VPADDD.BCST 28(AX), Z7, Z7
	VPADDD.BCST 32(AX), Z8, Z8
	VPADDD.BCST 36(AX), Z9, Z9
	VPADDD.BCST 40(AX), Z10, Z10
	VPADDD.BCST 44(AX), Z11, Z11
	VPADDD      Z31, Z12, Z12
	VPADDD.BCST 52(AX), Z13, Z13
	VPADDD.BCST 56(AX), Z14, Z14
	VPADDD.BCST 60(AX), Z15, Z15

	TRANSPOSE4(Z0, Z1, Z2, Z3, Z16, Z17)
	TRANSPOSE4(Z4, Z5, Z6, Z7, Z18, Z19)
	TRANSPOSE4(Z8, Z9, Z10, Z11, Z20, Z21)
	TRANSPOSE4(Z12, Z13, Z14, Z15, Z22, Z23)
	LANES(Z0, Z4, Z8, Z12, Z24, Z25, Z26, Z27)
	LANES(Z16, Z18, Z20, Z22, Z24, Z25, Z26, Z27)
	LANES(Z2, Z6, Z10, Z14, Z24, Z25, Z26, Z27)
	LANES(Z3, Z7, Z11, Z15, Z24, Z25, Z26, Z27)

	// A whole 1 KiB of data left and no diverted block: XOR straight into
	// the destination. Blocks are in registers in the order 0, 4, 8, 12
	// (from LANES on p=0), 1, 5, 9, 13, and so on.
	TESTQ R9, R9
	JNZ   wideBuffer
	CMPQ  CX, $1024
	JB    wideBuffer
	XOR_STORE(Z0, 0)
	XOR_STORE(Z16, 64)
	XOR_STORE(Z2, 128)
	XOR_STORE(Z3, 192)
	XOR_STORE(Z4, 256)
	XOR_STORE(Z18, 320)
	XOR_STORE(Z6, 384)
	XOR_STORE(Z7, 448)
	XOR_STORE(Z8, 512)
	XOR_STORE(Z20, 576)
	XOR_STORE(Z10, 640)
	XOR_STORE(Z11, 704)
	XOR_STORE(Z12, 768)
	XOR_STORE(Z22, 832)
	XOR_STORE(Z14, 896)
	XOR_STORE(Z15, 960)
	ADDQ  $1024, SI
	ADDQ  $1024, DI
	SUBQ  $1024, CX
	JMP   next

wideBuffer:
	VMOVDQA64 Z0, 0(BX)
	VMOVDQA64 Z16, 64(BX)
	VMOVDQA64 Z2, 128(BX)
	VMOVDQA64 Z3, 192(BX)
	VMOVDQA64 Z4, 256(BX)
	VMOVDQA64 Z18, 320(BX)
	VMOVDQA64 Z6, 384(BX)
	VMOVDQA64 Z7, 448(BX)
	VMOVDQA64 Z8, 512(BX)
	VMOVDQA64 Z20, 576(BX)
	VMOVDQA64 Z10, 640(BX)
	VMOVDQA64 Z11, 704(BX)
	VMOVDQA64 Z12, 768(BX)
	VMOVDQA64 Z22, 832(BX)
	VMOVDQA64 Z14, 896(BX)
	VMOVDQA64 Z15, 960(BX)
	MOVQ      $1024, R10
	JMP       useBuffer

	// Row layout: at most 12 blocks (768 bytes including a diverted first
	// block) are needed, so this is the last batch and the counter needs
	// no update. As few register sets (4 blocks each) as will do.
row:
	VBROADCASTI32X4 0(AX), Z8
	VBROADCASTI32X4 16(AX), Z9
	VBROADCASTI32X4 32(AX), Z10
	VBROADCASTI32X4 48(AX), Z11
	MOVL            $0x1111, DX
	KMOVW           DX, K2
	VPBROADCASTD    R12, K2, Z11
	VPADDD          rowIota<>+64(SB), Z11, Z12
	VPADDD          rowIota<>+128(SB), Z11, Z13
	VPADDD          rowIota<>+0(SB), Z11, Z11
	VMOVDQA64       Z8, Z0
	VMOVDQA64       Z9, Z1
	VMOVDQA64       Z10, Z2
	VMOVDQA64       Z11, Z3
	MOVQ            $10, DX
	CMPQ            R11, $256
	JA              row2or3

row1Rounds:
	ROWQR(Z0, Z1, Z2, Z3)
	DIAGONALIZE(Z0, Z2, Z3)
	ROWQR(Z0, Z1, Z2, Z3)
	UNDIAGONALIZE(Z0, Z2, Z3)
	DECQ DX
	JNZ  row1Rounds

	VPADDD Z8, Z0, Z0
	VPADDD Z9, Z1, Z1
	VPADDD Z10, Z2, Z2
	VPADDD Z11, Z3, Z3
	LANES(Z0, Z1, Z2, Z3, Z8, Z9, Z10, Z11)
	VMOVDQA64 Z0, 0(BX)
	VMOVDQA64 Z1, 64(BX)
	VMOVDQA64 Z2, 128(BX)
	VMOVDQA64 Z3, 192(BX)
	MOVQ      $256, R10
	JMP       useBuffer

row2or3:
	VMOVDQA64 Z8, Z4
	VMOVDQA64 Z9, Z5
	VMOVDQA64 Z10, Z6
	VMOVDQA64 Z12, Z7
	CMPQ      R11, $512
	JA        row3

row2Rounds:
	ROWQR2(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	DIAGONALIZE(Z0, Z2, Z3)
	DIAGONALIZE(Z4, Z6, Z7)
	ROWQR2(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7)
	UNDIAGONALIZE(Z0, Z2, Z3)
	UNDIAGONALIZE(Z4, Z6, Z7)
	DECQ DX
	JNZ  row2Rounds

	VPADDD Z8, Z0, Z0
	VPADDD Z9, Z1, Z1
	VPADDD Z10, Z2, Z2
	VPADDD Z11, Z3, Z3
	VPADDD Z8, Z4, Z4
	VPADDD Z9, Z5, Z5
	VPADDD Z10, Z6, Z6
	VPADDD Z12, Z7, Z7
	LANES(Z0, Z1, Z2, Z3, Z8, Z9, Z10, Z11)
	LANES(Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)
	VMOVDQA64 Z0, 0(BX)
	VMOVDQA64 Z1, 64(BX)
	VMOVDQA64 Z2, 128(BX)
	VMOVDQA64 Z3, 192(BX)
	VMOVDQA64 Z4, 256(BX)
	VMOVDQA64 Z5, 320(BX)
	VMOVDQA64 Z6, 384(BX)
	VMOVDQA64 Z7, 448(BX)
	MOVQ      $512, R10
	JMP       useBuffer

row3:
	VMOVDQA64 Z8, Z16
	VMOVDQA64 Z9, Z17
	VMOVDQA64 Z10, Z18
	VMOVDQA64 Z13, Z19

row3Rounds:
	ROWQR3(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z16, Z17, Z18, Z19)
	DIAGONALIZE(Z0, Z2, Z3)
	DIAGONALIZE(Z4, Z6, Z7)
	DIAGONALIZE(Z16, Z18, Z19)
	ROWQR3(Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z16, Z17, Z18, Z19)
	UNDIAGONALIZE(Z0, Z2, Z3)
	UNDIAGONALIZE(Z4, Z6, Z7)
	UNDIAGONALIZE(Z16, Z18, Z19)
	DECQ DX
	JNZ  row3Rounds

	VPADDD Z8, Z0, Z0
	VPADDD Z9, Z1, Z1
	VPADDD Z10, Z2, Z2
	VPADDD Z11, Z3, Z3
	VPADDD Z8, Z4, Z4
	VPADDD Z9, Z5, Z5
	VPADDD Z10, Z6, Z6
	VPADDD Z12, Z7, Z7
	VPADDD Z8, Z16, Z16
	VPADDD Z9, Z17, Z17
	VPADDD Z10, Z18, Z18
	VPADDD Z13, Z19, Z19
	LANES(Z0, Z1, Z2, Z3, Z8, Z9, Z10, Z11)
	LANES(Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11)
	LANES(Z16, Z17, Z18, Z19, Z8, Z9, Z10, Z11)
	VMOVDQA64 Z0, 0(BX)
	VMOVDQA64 Z1, 64(BX)
	VMOVDQA64 Z2, 128(BX)
	VMOVDQA64 Z3, 192(BX)
	VMOVDQA64 Z4, 256(BX)
	VMOVDQA64 Z5, 320(BX)
	VMOVDQA64 Z6, 384(BX)
	VMOVDQA64 Z7, 448(BX)
	VMOVDQA64 Z16, 512(BX)
	VMOVDQA64 Z17, 576(BX)
	VMOVDQA64 Z18, 640(BX)
	VMOVDQA64 Z19, 704(BX)
	MOVQ      $768, R10

	// Consume buffered keystream from offset R9 up to R10.
useBuffer:
	TESTQ     R8, R8
	JZ        chunks
	VMOVDQA64 0(BX), Z0
	VMOVDQU64 Z0, 0(R8)
	XORQ      R8, R8

chunks:
	CMPQ      CX, $64
	JB        lastChunk
	CMPQ      R9, R10
	JAE       wipe
	VMOVDQU64 0(SI), Z0
	VPXORQ    (BX)(R9*1), Z0, Z0
	VMOVDQU64 Z0, 0(DI)
	ADDQ      $64, SI
	ADDQ      $64, DI
	ADDQ      $64, R9
	SUBQ      $64, CX
	JMP       chunks

	// 1 to 63 bytes: masked byte loads and stores never touch memory
	// past the end of src or dst.
lastChunk:
	TESTQ      CX, CX
	JZ         wipe
	CMPQ       R9, R10
	JAE        wipe
	MOVQ       $1, R11
	SHLQ       CX, R11
	DECQ       R11
	KMOVQ      R11, K1
	VMOVDQU8.Z 0(SI), K1, Z0
	VPXORQ     (BX)(R9*1), Z0, Z0
	VMOVDQU8   Z0, K1, 0(DI)
	XORQ       CX, CX

	// Keystream, including the Poly1305 key block, must not linger on the
	// stack after return.
wipe:
	VPXORQ    Z0, Z0, Z0
	VMOVDQA64 Z0, 0(BX)
	VMOVDQA64 Z0, 64(BX)
	VMOVDQA64 Z0, 128(BX)
	VMOVDQA64 Z0, 192(BX)
	CMPQ      R10, $256
	JBE       wiped
	VMOVDQA64 Z0, 256(BX)
	VMOVDQA64 Z0, 320(BX)
	VMOVDQA64 Z0, 384(BX)
	VMOVDQA64 Z0, 448(BX)
	CMPQ      R10, $512
	JBE       wiped
	VMOVDQA64 Z0, 512(BX)
	VMOVDQA64 Z0, 576(BX)
	VMOVDQA64 Z0, 640(BX)
	VMOVDQA64 Z0, 704(BX)
	VMOVDQA64 Z0, 768(BX)
	VMOVDQA64 Z0, 832(BX)
	VMOVDQA64 Z0, 896(BX)
	VMOVDQA64 Z0, 960(BX)

wiped:
	XORQ R9, R9
	JMP  next

	// VZEROUPPER leaves Z16-Z31 alone. Clear the ones used so that no
	// keystream stays behind in them and their upper halves are not left
	// dirty for the SSE code that runs next.
done:
	VPXORD X16, X16, X16
	VPXORD X17, X17, X17
	VPXORD X18, X18, X18
	VPXORD X19, X19, X19
	VPXORD X20, X20, X20
	VPXORD X21, X21, X21
	VPXORD X22, X22, X22
	VPXORD X23, X23, X23
	VPXORD X24, X24, X24
	VPXORD X25, X25, X25
	VPXORD X26, X26, X26
	VPXORD X27, X27, X27
	VPXORD X31, X31, X31
	VZEROUPPER
	RET
