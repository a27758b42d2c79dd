// SPDX-License-Identifier: MIT

//go:build amd64 && !purego

#include "textflag.h"

// Poly1305 bulk blocks with AVX-512 IFMA (VPMADD52LUQ/VPMADD52HUQ).
//
// Only the part that has to be fast is here: absorbing groups of eight
// 16-byte blocks into eight accumulators held in radix 2^44, and computing
// r^1..r^8 with the same multiplication, kept in registers only (in Go the
// powers took as long as the blocks of a 1420-byte packet, and passing them
// through memory meant zeroing and wiping a large stack buffer per call).
// The hand-over from and to the scalar accumulator, the final reduction and
// s are done in Go (poly1305.go).
//
// Eight-way Horner. For blocks m_1..m_n (n = 8g) the tag polynomial
// h' = (h + m_1) r^n + m_2 r^(n-1) + ... + m_n r. Lane j (0..7) takes the
// blocks m_{8i+j+1}: every step adds its block and multiplies by r^8, except
// the last, which multiplies lane j by r^(8-j). Lane 0 starts at h and the
// others at 0, so block m_{8i+j+1} ends up weighted by r^(8(g-1-i)+8-j) =
// r^(n-(8i+j+1)+1), exactly as in h'. Go adds the lanes up.
//
// Representation. A lane value is x0 + x1*2^44 + x2*2^88 (B = 2^44), so a
// 130-bit number has limbs of 44, 44 and 42 bits. IFMA multiplies the low
// 52 bits of two lanes and adds either the low 52 bits (LUQ) or bits 52-103
// (HUQ) of the 104-bit product to a 64-bit accumulator. Inputs therefore
// must be below 2^52, which the bounds below establish.
//
// Multiplication mod p = 2^130 - 5. With h and r as 3 limbs, h*r has terms
// at B^0..B^4. B^3 = 2^132 = 4 * 2^130 = 4*5 = 20 mod p, and B^4 = 20 B mod
// p, so the terms at B^3 and B^4 fold down with a factor 20:
//	d0 = h0 r0 + 20 (h1 r2 + h2 r1)
//	d1 = h0 r1 + h1 r0 + 20 h2 r2
//	d2 = h0 r2 + h1 r1 + h2 r0
// With s1 = 20 r1 and s2 = 20 r2 precomputed, each term is a single
// product. Each product P = L + H*2^52, and 2^52 = 2^8 B, so its
// high half belongs one limb up, shifted left by 8. Summing per column:
//	l_k = sum of the low halves of the column-k products
//	u_k = sum of the high halves of the column-k products
//	d0 = l0, d1 = l1 + u0<<8, d2 = l2 + u1<<8, and u2<<8 at B^3.
// The folded terms (h1 s2 etc.) are right too: h1 r2 B^3 = h1 s2 B^0 mod p,
// and its high half lands at B^1 = what h1 r2's high half at B^4 folds to.
// Column 2's high halves sit at B^3 = 2^130 * 4; they are folded in during
// the carry below, as 4 u2<<8 = u2<<10 added to the part above 2^130.
//
// Carry, on all limbs at once to keep the dependency chain short:
// c0 = d0>>44 goes into limb 1, c1 = d1>>44 into limb 2, and
// c = d2>>42 + u2<<10 (everything at 2^130 and above) into limb 0 times 5
// (2^130 = 5 mod p; added as c + c<<2). Then one more carry from limb 0
// into limb 1.
//
// Bounds (all that the code relies on). Claim: at each multiply the limbs
// of every lane are below 2^46. Multipliers: r limbs < 2^44, 2^44 + 2^14,
// 2^42 + 2^10 (MULR's own output bounds, derived next, which is how POWERS
// makes them), so s1 < 20 (2^44 + 2^14) < 2^48.33 and s2 < 2^46.33. Every
// product is < 2^46 * 2^48.33 = 2^94.33, so its high half is < 2^42.33 and
// its low half < 2^52. Then l_k < 3*2^52 < 2^53.6,
// u_k < 3*2^42.33 < 2^44, u_k<<8 < 2^52, so d0, d1, d2 < 2^54 and u2<<10 <
// 2^54. Carry: c0, c1 < 2^10, d2>>42 < 2^12, c < 2^54 + 2^12, 5c < 2^56.4,
// plus d0 & (2^44-1): < 2^57, no 64-bit overflow; its carry < 2^13.
// Result: limb 0 < 2^44, limb 1 < 2^44 + 2^10 + 2^13 < 2^44 + 2^14,
// limb 2 < 2^42 + 2^10 (the bounds Go's combineLanes relies on). Adding a
// block (limbs < 2^44, 2^44, 2^41 with the 2^128 bit at 2^40 of limb 2)
// gives < 2^45, 2^45 + 2^14, 2^43. Lane 0 initially holds Go's accumulator
// split by to44: < 2^44, 2^44, 2^43, so plus a block < 2^45, 2^45, 2^44.
// All below 2^46, which proves the claim by induction, and far below IFMA's
// 2^52 input limit.
//
// Register use:
//	AX      output lanes; SI message cursor; CX groups left
//	Z0-Z2   accumulator limbs, one lane per block position
//	Z3-Z7   multiplier r0, r1, r2, s1, s2 of r^8
//	Z18, Z19, Z29-Z31  the same for the last group: r^(8-j) in lane j
//	Z8      2^44-1; Z9 2^42-1; Z10 2^40 (the 2^128 bit in limb 2; 1 while
//	        the powers are computed)
//	Z11-Z12 VPERMT2Q indices gathering low and high words of 8 blocks
//	Z13-Z17 message words and limbs; Z20-Z25 l0-l2, u0-u2; Z26-Z28 scratch

DATA permLo<>+0x00(SB)/8, $0
DATA permLo<>+0x08(SB)/8, $2
DATA permLo<>+0x10(SB)/8, $4
DATA permLo<>+0x18(SB)/8, $6
DATA permLo<>+0x20(SB)/8, $8
DATA permLo<>+0x28(SB)/8, $10
DATA permLo<>+0x30(SB)/8, $12
DATA permLo<>+0x38(SB)/8, $14
GLOBL permLo<>(SB), RODATA|NOPTR, $64

DATA permHi<>+0x00(SB)/8, $1
DATA permHi<>+0x08(SB)/8, $3
DATA permHi<>+0x10(SB)/8, $5
DATA permHi<>+0x18(SB)/8, $7
DATA permHi<>+0x20(SB)/8, $9
DATA permHi<>+0x28(SB)/8, $11
DATA permHi<>+0x30(SB)/8, $13
DATA permHi<>+0x38(SB)/8, $15
GLOBL permHi<>(SB), RODATA|NOPTR, $64

DATA polyConst<>+0x00(SB)/8, $0x00000fffffffffff
DATA polyConst<>+0x08(SB)/8, $0x000003ffffffffff
DATA polyConst<>+0x10(SB)/8, $0x0000010000000000
DATA polyConst<>+0x18(SB)/8, $1
GLOBL polyConst<>(SB), RODATA|NOPTR, $32

// MULR sets (Z0, Z1, Z2) to (Z0, Z1, Z2) * r mod p, partially reduced, with
// r given as R0, R1, R2, S1 = 20 R1, S2 = 20 R2 (see above). The products are
// issued in rounds over the six independent accumulators, so consecutive
// IFMAs do not wait for each other, column 2 first because its sums start
// the longest chain of the carry that follows. The carry runs on all limbs
// at once (see "Carry" above).
#define MULR(R0, R1, R2, S1, S2) \
	VPXORQ      Z20, Z20, Z20 \
	VPXORQ      Z21, Z21, Z21 \
	VPXORQ      Z22, Z22, Z22 \
	VPXORQ      Z23, Z23, Z23 \
	VPXORQ      Z24, Z24, Z24 \
	VPXORQ      Z25, Z25, Z25 \
	VPMADD52LUQ R2, Z0, Z22 \
	VPMADD52HUQ R1, Z0, Z24 \
	VPMADD52HUQ R2, Z0, Z25 \
	VPMADD52LUQ R0, Z0, Z20 \
	VPMADD52LUQ R1, Z0, Z21 \
	VPMADD52HUQ R0, Z0, Z23 \
	VPMADD52LUQ R1, Z1, Z22 \
	VPMADD52HUQ R0, Z1, Z24 \
	VPMADD52HUQ R1, Z1, Z25 \
	VPMADD52LUQ S2, Z1, Z20 \
	VPMADD52LUQ R0, Z1, Z21 \
	VPMADD52HUQ S2, Z1, Z23 \
	VPMADD52LUQ R0, Z2, Z22 \
	VPMADD52HUQ S2, Z2, Z24 \
	VPMADD52HUQ R0, Z2, Z25 \
	VPMADD52LUQ S1, Z2, Z20 \
	VPMADD52LUQ S2, Z2, Z21 \
	VPMADD52HUQ S1, Z2, Z23 \
	VPSLLQ      $8, Z24, Z24 \
	VPADDQ      Z24, Z22, Z22 \
	VPSLLQ      $10, Z25, Z25 \
	VPSLLQ      $8, Z23, Z23 \
	VPADDQ      Z23, Z21, Z21 \
	VPSRLQ      $42, Z22, Z28 \
	VPSRLQ      $44, Z20, Z26 \
	VPSRLQ      $44, Z21, Z27 \
	VPANDQ      Z9, Z22, Z22 \
	VPANDQ      Z8, Z20, Z20 \
	VPANDQ      Z8, Z21, Z21 \
	VPADDQ      Z25, Z28, Z28 \
	VPADDQ      Z27, Z22, Z2 \
	VPADDQ      Z26, Z21, Z21 \
	VPADDQ      Z28, Z20, Z20 \
	VPSLLQ      $2, Z28, Z28 \
	VPADDQ      Z28, Z20, Z20 \
	VPSRLQ      $44, Z20, Z26 \
	VPANDQ      Z8, Z20, Z0 \
	VPADDQ      Z26, Z21, Z1

// MULTBY sets the multiplier Z3-Z7 to lane 0 of the accumulator Z0-Z2
// (limbs, then 20 times limbs 1 and 2 as x<<4 + x<<2) in the lanes selected
// by K1, and to 1 (limb 0 = 1, the rest 0; Z10 holds 1) in the others,
// selected by K2 = ^K1.
#define MULTBY \
	VPBROADCASTQ X0, Z3 \
	VPBROADCASTQ X1, Z4 \
	VPBROADCASTQ X2, Z5 \
	VPSLLQ       $4, Z4, Z6 \
	VPSLLQ       $2, Z4, Z27 \
	VPADDQ       Z27, Z6, Z6 \
	VPSLLQ       $4, Z5, Z7 \
	VPSLLQ       $2, Z5, Z27 \
	VPADDQ       Z27, Z7, Z7 \
	VMOVDQA64    Z10, K2, Z3 \
	VMOVDQA64.Z  Z4, K1, Z4 \
	VMOVDQA64.Z  Z5, K1, Z5 \
	VMOVDQA64.Z  Z6, K1, Z6 \
	VMOVDQA64.Z  Z7, K1, Z7

// POWERS computes the multipliers from r, given as radix 2^44 limbs in R8,
// R9, R10: lane j of Z18, Z19, Z29 (limbs) and Z30, Z31 (20 times limbs 1
// and 2) gets r^(8-j), every lane of Z3-Z7 gets r^8 in the same form. It
// uses three lane-wise MULRs, each multiplying some lanes by the power in
// lane 0 and the others by 1:
//	start                   r   r   r   r   r   r   r   r
//	x r   in lanes 0,2,4,6: r^2 r   r^2 r   r^2 r   r^2 r
//	x r^2 in lanes 0,1,4,5: r^4 r^3 r^2 r   r^4 r^3 r^2 r
//	x r^4 in lanes 0-3:     r^8 r^7 r^6 r^5 r^4 r^3 r^2 r
// The powers come out partially reduced, within MULR's output bounds
// (limbs < 2^44, 2^44 + 2^14, 2^42 + 2^10), which are the multiplier bounds
// the proof above assumes; as MULR inputs here they are below 2^46. Needs
// Z8, Z9 (masks) and Z10 = 1; clobbers Z0-Z7, K1, K2, R8.
#define POWERS \
	VPBROADCASTQ R8, Z0 \
	VPBROADCASTQ R9, Z1 \
	VPBROADCASTQ R10, Z2 \
	MOVQ         $0x55, R8 \
	KMOVW        R8, K1 \
	KNOTW        K1, K2 \
	MULTBY \
	MULR(Z3, Z4, Z5, Z6, Z7) \
	MOVQ         $0x33, R8 \
	KMOVW        R8, K1 \
	KNOTW        K1, K2 \
	MULTBY \
	MULR(Z3, Z4, Z5, Z6, Z7) \
	MOVQ         $0x0f, R8 \
	KMOVW        R8, K1 \
	KNOTW        K1, K2 \
	MULTBY \
	MULR(Z3, Z4, Z5, Z6, Z7) \
	VMOVDQA64    Z0, Z18 \
	VMOVDQA64    Z1, Z19 \
	VMOVDQA64    Z2, Z29 \
	VPSLLQ       $4, Z1, Z30 \
	VPSLLQ       $2, Z1, Z27 \
	VPADDQ       Z27, Z30, Z30 \
	VPSLLQ       $4, Z2, Z31 \
	VPSLLQ       $2, Z2, Z27 \
	VPADDQ       Z27, Z31, Z31 \
	MOVQ         $0xff, R8 \
	KMOVW        R8, K1 \
	KXORW        K2, K2, K2 \
	MULTBY

// CLEARKEY zeroes the registers that held powers of the one-time key, so
// they do not linger after the call (VZEROUPPER leaves Z16-Z31 and the low
// halves alone).
#define CLEARKEY \
	VPXORQ Z0, Z0, Z0 \
	VPXORQ Z1, Z1, Z1 \
	VPXORQ Z2, Z2, Z2 \
	VPXORQ Z3, Z3, Z3 \
	VPXORQ Z4, Z4, Z4 \
	VPXORQ Z5, Z5, Z5 \
	VPXORQ Z6, Z6, Z6 \
	VPXORQ Z7, Z7, Z7 \
	VPXORQ Z18, Z18, Z18 \
	VPXORQ Z19, Z19, Z19 \
	VPXORQ Z29, Z29, Z29 \
	VPXORQ Z30, Z30, Z30 \
	VPXORQ Z31, Z31, Z31

// func polyBlocksIFMA(out *[3][8]uint64, m *byte, groups int, h0, h1, h2, r0, r1, r2 uint64)
TEXT ·polyBlocksIFMA(SB), NOSPLIT, $0-72
	MOVQ out+0(FP), AX
	MOVQ m+8(FP), SI
	MOVQ groups+16(FP), CX

	VPBROADCASTQ polyConst<>+0x00(SB), Z8
	VPBROADCASTQ polyConst<>+0x08(SB), Z9
	VPBROADCASTQ polyConst<>+0x18(SB), Z10
	MOVQ         r0+48(FP), R8
	MOVQ         r1+56(FP), R9
	MOVQ         r2+64(FP), R10
	POWERS

	// Lane 0 = the accumulator limbs, lanes 1-7 = 0: VMOVQ zeroes the
	// rest of the register.
	MOVQ         h0+24(FP), R8
	MOVQ         h1+32(FP), R9
	MOVQ         h2+40(FP), R10
	VMOVQ        R8, X0
	VMOVQ        R9, X1
	VMOVQ        R10, X2
	VPBROADCASTQ polyConst<>+0x10(SB), Z10
	VMOVDQU64    permLo<>(SB), Z11
	VMOVDQU64    permHi<>(SB), Z12

loop:
	// Blocks j = 0..7 of the group: Z13 lane j = bytes 0-7 of block j,
	// Z14 lane j = bytes 8-15. Limbs: bits 0-43, bits 44-87 (20 from the
	// low word, 24 from the high one), bits 88-127 plus the 2^128 bit.
	VMOVDQU64 (SI), Z13
	VMOVDQA64 Z13, Z14
	VPERMT2Q  64(SI), Z11, Z13
	VPERMT2Q  64(SI), Z12, Z14
	VPANDQ    Z8, Z13, Z15
	VPSRLQ    $44, Z13, Z16
	VPSLLQ    $20, Z14, Z26
	VPORQ     Z26, Z16, Z16
	VPANDQ    Z8, Z16, Z16
	VPSRLQ    $24, Z14, Z17
	VPORQ     Z10, Z17, Z17
	VPADDQ    Z15, Z0, Z0
	VPADDQ    Z16, Z1, Z1
	VPADDQ    Z17, Z2, Z2
	ADDQ      $128, SI
	DECQ      CX
	JZ        last
	MULR(Z3, Z4, Z5, Z6, Z7)
	JMP       loop

last:
	// The last group: lane j times r^(8-j).
	MULR(Z18, Z19, Z29, Z30, Z31)
	VMOVDQU64 Z0, 0(AX)
	VMOVDQU64 Z1, 64(AX)
	VMOVDQU64 Z2, 128(AX)
	CLEARKEY
	VZEROUPPER
	RET

// func polyPowersIFMA(out *[10][8]uint64, r0, r1, r2 uint64)
//
// POWERS on its own, storing r^(8-j) by lane (five vectors) and then r^8
// (five vectors), so that tests can check it against math/big.
TEXT ·polyPowersIFMA(SB), NOSPLIT, $0-32
	MOVQ         out+0(FP), AX
	VPBROADCASTQ polyConst<>+0x00(SB), Z8
	VPBROADCASTQ polyConst<>+0x08(SB), Z9
	VPBROADCASTQ polyConst<>+0x18(SB), Z10
	MOVQ         r0+8(FP), R8
	MOVQ         r1+16(FP), R9
	MOVQ         r2+24(FP), R10
	POWERS
	VMOVDQU64    Z18, 0(AX)
	VMOVDQU64    Z19, 64(AX)
	VMOVDQU64    Z29, 128(AX)
	VMOVDQU64    Z30, 192(AX)
	VMOVDQU64    Z31, 256(AX)
	VMOVDQU64    Z3, 320(AX)
	VMOVDQU64    Z4, 384(AX)
	VMOVDQU64    Z5, 448(AX)
	VMOVDQU64    Z6, 512(AX)
	VMOVDQU64    Z7, 576(AX)
	CLEARKEY
	VZEROUPPER
	RET
