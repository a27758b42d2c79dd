// SPDX-License-Identifier: MIT

// Package aead provides the ChaCha20-Poly1305 AEAD (RFC 8439) used for
// WireGuard transport data.
//
// It holds an implementation for amd64 CPUs with AVX-512 (F, VL, BW and
// IFMA) next to golang.org/x/crypto/chacha20poly1305. Both produce identical
// output and accept exactly the same inputs. New returns x/crypto's unless
// the AVX-512 one is asked for (ModeAVX512, WGPLEX_AEAD=avx512 in the
// daemon) and the CPU has it; why it is not the default is at the end of
// this comment.
//
// The AVX-512 implementation makes two passes over the data: ChaCha20 16
// blocks at a time in ZMM registers (chacha20_amd64.s), and Poly1305 with
// IFMA multiply-adds, eight blocks in parallel in radix 2^44
// (poly1305_amd64.s), with the scalar parts of Poly1305 (short tails,
// changes of representation, final reduction) in Go (poly1305.go). Two
// passes keep each piece of assembly small and let Open verify the tag
// before it writes a single byte of plaintext. x/crypto's fused AVX2 loop is
// paced by its scalar Poly1305 at about 1.1 cycles/byte; the IFMA Poly1305
// runs at roughly a quarter of that. On the shared 2-vCPU Sapphire Rapids
// machine it was measured on, Seal of a 1420-byte packet was 1.8-2.2x as
// fast as x/crypto and Open 1.5-1.65x on a quiet machine (Open does a
// little more: it buffers the first keystream batch until the tag is
// verified), 8 KiB about 2.1-2.3x; 64-byte packets are about as fast as
// with x/crypto (0.9-1.1x): they are too short for the vector Poly1305.
// Measured as CPU time on a busy machine, the 1420-byte gain was 1.3x for
// both. End to end, with the kernel, the TUN and UDP copies and the TCP
// stack around it, it took 7-30% off the daemons' CPU per byte (TCP, 1
// and 4 streams, same-run comparisons against x/crypto's on two days of
// one 2-vCPU host): 19-24% on a quiet evening, 8-17% on a day when the
// per-call gain at 1420 bytes was 1.36-1.52x. The median of the 24
// comparisons, 13.1%, is under the 15% that a second, hand-written
// implementation of the transport AEAD has to earn to be on the default
// path, so it is opt-in (README, Performance). It is held to the same
// tests either way, by two references that share no code: x/crypto
// (TestDifferential, FuzzAEAD) and a plain transcription of RFC 8439 with
// math/big (TestDifferentialRFC8439, FuzzAEADRFC8439), besides the RFC's
// vectors.
package aead

import (
	"crypto/cipher"
	"crypto/fips140"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// KeySize is the size of a ChaCha20-Poly1305 key in bytes.
	KeySize = chacha20poly1305.KeySize
	// NonceSize is the size of the nonce in bytes.
	NonceSize = chacha20poly1305.NonceSize
	// Overhead is the size of the Poly1305 tag appended by Seal.
	Overhead = chacha20poly1305.Overhead
)

// ErrOpen is returned by Open of the AVX-512 implementation when the
// ciphertext, tag or additional data do not authenticate. Its text is the
// one x/crypto uses, so logs read the same with either implementation.
var ErrOpen = errors.New("chacha20poly1305: message authentication failed")

var errKeySize = errors.New("chacha20poly1305: bad key length")

// avx512ByDefault says whether New uses the AVX-512 implementation when
// WGPLEX_AEAD is unset: no. It took 7-30% off the CPU per byte end to
// end, 13.1% in the median (see the package comment), under the 15% that
// a second, hand-written implementation of the transport AEAD on the
// default path has to earn. WGPLEX_AEAD=avx512 turns it on.
const avx512ByDefault = false

// Mode chooses the implementation New returns. The daemon sets it once at
// start from its configuration (WGPLEX_AEAD); switching while keys are
// live would gain nothing.
type Mode uint32

const (
	// ModeAuto is the default: x/crypto, or AVX-512 where the CPU has
	// it if avx512ByDefault is set (it is not).
	ModeAuto Mode = iota
	// ModeGeneric forces x/crypto (for a misbehaving CPU, or to compare).
	ModeGeneric
	// ModeAVX512 asks for the AVX-512 implementation where the CPU has
	// it (x/crypto elsewhere).
	ModeAVX512
)

// ParseMode reads a mode as WGPLEX_AEAD spells it: "" or "auto",
// "generic", "avx512".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "auto":
		return ModeAuto, nil
	case "generic":
		return ModeGeneric, nil
	case "avx512":
		return ModeAVX512, nil
	}
	return ModeAuto, fmt.Errorf("unknown AEAD implementation %q (want auto, generic or avx512)", s)
}

var mode atomic.Uint32

// SetMode chooses the implementation for AEADs made from now on.
func SetMode(m Mode) { mode.Store(uint32(m)) }

// Accelerated reports whether New returns the AVX-512 implementation. That
// needs a CPU and OS with AVX512F, AVX512VL, AVX512BW and AVX512IFMA, an
// amd64 build without the purego tag, no FIPS 140-only mode (where
// ChaCha20-Poly1305 is refused anyway), and either ModeAVX512 or
// avx512ByDefault; with ModeGeneric it is always false.
func Accelerated() bool {
	if !haveAVX512 || fips140.Enforced() {
		return false
	}
	switch Mode(mode.Load()) {
	case ModeGeneric:
		return false
	case ModeAVX512:
		return true
	}
	return avx512ByDefault
}

// Implementation names what New returns, as WGPLEX_AEAD spells it:
// "avx512" when Accelerated reports true, otherwise "generic"
// (x/crypto's). The daemon logs it at start, so that WGPLEX_AEAD=avx512 on
// a CPU without AVX-512 IFMA shows that it fell back.
func Implementation() string {
	if Accelerated() {
		return "avx512"
	}
	return "generic"
}

// New returns a ChaCha20-Poly1305 AEAD for the 32-byte key: the AVX-512
// implementation when Accelerated reports true, otherwise x/crypto's.
// The key is copied; the caller may reuse its slice.
func New(key []byte) (cipher.AEAD, error) {
	if !Accelerated() {
		return newGeneric(key)
	}
	return newAVX512(key)
}

// newGeneric is the fallback, kept as a function so that tests exercise
// exactly what New would return on a CPU without AVX-512.
func newGeneric(key []byte) (cipher.AEAD, error) {
	return chacha20poly1305.New(key)
}

// chachaAVX512 holds the key as the eight little-endian state words it
// becomes (RFC 8439 §2.3), so each call only fills in counter and nonce.
type chachaAVX512 struct {
	key [8]uint32
}

// newAVX512 builds the accelerated AEAD without checking the CPU; callers
// (New and the tests) decide whether it may be used.
func newAVX512(key []byte) (*chachaAVX512, error) {
	if len(key) != KeySize {
		return nil, errKeySize
	}
	c := new(chachaAVX512)
	for i := range c.key {
		c.key[i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	return c, nil
}

// NonceSize returns 12, the RFC 8439 nonce size.
func (c *chachaAVX512) NonceSize() int { return NonceSize }

// Overhead returns 16, the size of the Poly1305 tag.
func (c *chachaAVX512) Overhead() int { return Overhead }

// state returns the ChaCha20 input block for the nonce with block counter 0
// (RFC 8439 §2.3): constants, key, counter, nonce.
func (c *chachaAVX512) state(nonce []byte) [16]uint32 {
	return [16]uint32{
		0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		c.key[0], c.key[1], c.key[2], c.key[3],
		c.key[4], c.key[5], c.key[6], c.key[7],
		0,
		binary.LittleEndian.Uint32(nonce[0:4]),
		binary.LittleEndian.Uint32(nonce[4:8]),
		binary.LittleEndian.Uint32(nonce[8:12]),
	}
}

// Seal encrypts and authenticates plaintext, authenticates additionalData and
// appends the result to dst. Like x/crypto it panics on a nonce that is not
// 12 bytes, on plaintext longer than 2^38-64 bytes (where the 32-bit block
// counter would wrap) and on output that overlaps the input inexactly;
// dst = plaintext[:0] is fine.
func (c *chachaAVX512) Seal(dst, nonce, plaintext, additionalData []byte) []byte {
	if len(nonce) != NonceSize {
		panic("chacha20poly1305: bad nonce length passed to Seal")
	}
	if uint64(len(plaintext)) > (1<<38)-64 {
		panic("chacha20poly1305: plaintext too large")
	}
	n := len(plaintext)
	ret, out := sliceForAppend(dst, n+Overhead)
	if inexactOverlap(out, plaintext) {
		panic("chacha20poly1305: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, additionalData) {
		panic("chacha20poly1305: invalid buffer overlap of output and additional data")
	}

	// Block 0 (the Poly1305 key, RFC 8439 §2.6) comes out of the same
	// batch as the first data blocks: a batch of its own would be latency
	// bound and cost about as much as one of four to eight blocks.
	st := c.state(nonce)
	var block0 [64]byte
	xorKeyStream(out[:n], plaintext, &st, &block0)
	authTag((*[16]byte)(out[n:]), (*[32]byte)(block0[:32]), additionalData, out[:n])
	clear(block0[:])
	return ret
}

// zeros is XORed with keystream to read raw keystream out of the XOR-only
// assembly routine; 15 blocks is the most Open buffers.
var zeros [15 * 64]byte

// Open authenticates ciphertext (which ends in the 16-byte tag) and
// additionalData and, only if they verify, appends the plaintext to dst. On
// failure it returns ErrOpen and leaves dst's spare capacity, and so an
// in-place buffer, untouched. It panics where x/crypto does: a nonce that is
// not 12 bytes, ciphertext longer than 2^38-48 bytes, inexact overlap.
func (c *chachaAVX512) Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error) {
	if len(nonce) != NonceSize {
		panic("chacha20poly1305: bad nonce length passed to Open")
	}
	if len(ciphertext) < Overhead {
		return nil, ErrOpen
	}
	if uint64(len(ciphertext)) > (1<<38)-48 {
		panic("chacha20poly1305: ciphertext too large")
	}
	n := len(ciphertext) - Overhead
	ret, out := sliceForAppend(dst, n)
	if inexactOverlap(out, ciphertext[:n]) {
		panic("chacha20poly1305: invalid buffer overlap of output and input")
	}
	if anyOverlap(out, additionalData) {
		panic("chacha20poly1305: invalid buffer overlap of output and additional data")
	}

	// The tag has to be checked before any plaintext is written, and it
	// needs block 0. Block 0 comes out of a batch of 4 to 16 blocks
	// anyway (see the assembly), so the rest of that batch is kept as
	// keystream for the first 3, 7 or 15 data blocks instead of being
	// recomputed. The buffer is sized to the batch because Go zeroes it on
	// every call.
	st := c.state(nonce)
	var ok bool
	switch {
	case n <= 3*64:
		var ks [3 * 64]byte
		ok = openWith(ks[:], out, ciphertext, additionalData, &st)
	case n <= 7*64 || keepSeven(n):
		var ks [7 * 64]byte
		ok = openWith(ks[:], out, ciphertext, additionalData, &st)
	default:
		var ks [15 * 64]byte
		ok = openWith(ks[:], out, ciphertext, additionalData, &st)
	}
	if !ok {
		return nil, ErrOpen
	}
	return ret, nil
}

// keepSeven reports whether Open of n bytes (more than 7 blocks) should
// start with a batch of 8 blocks (block 0 and 7 kept) rather than 16. The
// assembly makes 16-block batches while more than 12 blocks remain and one
// row batch for the rest. If 16 blocks first would leave a remainder that
// ends in 1 to 8 blocks, starting with 8 leaves one that ends in 9 to 16:
// no more ChaCha20 work (a 16-block batch and a short row batch become two
// row batches, or the 16-block batch just moves to the end), but half the
// keystream to buffer, zero, XOR and wipe. A 1420-byte packet (23 blocks)
// is such a case; Open of it got about 10% faster.
func keepSeven(n int) bool {
	r := (n+63)/64 - 15
	return r > 0 && (r-1)%16 < 8
}

// openWith does the work of Open with ks as the buffer for the keystream of
// the first len(ks)/64 data blocks: keystream, tag check, then decryption.
func openWith(ks, out, ciphertext, ad []byte, st *[16]uint32) bool {
	n := len(ciphertext) - Overhead
	ct, tag := ciphertext[:n], ciphertext[n:]
	m := min(n, len(ks))
	var block0 [64]byte
	xorKeyStream(ks[:m], zeros[:m], st, &block0)

	var want [16]byte
	authTag(&want, (*[32]byte)(block0[:32]), ad, ct)
	clear(block0[:])
	if subtle.ConstantTimeCompare(want[:], tag) != 1 {
		clear(ks[:m])
		return false
	}

	subtle.XORBytes(out[:m], ct[:m], ks[:m])
	clear(ks[:m])
	if n > m {
		st[12] = uint32(1 + m/64)
		xorKeyStream(out[m:], ct[m:], st, nil)
	}
	return true
}

// authTag computes the RFC 8439 §2.8 tag: Poly1305 over
// AAD || pad16 || ciphertext || pad16 || le64(len AAD) || le64(len ct),
// with the IFMA code for whole groups of eight blocks. The state lives in
// this frame (the assembly does not let it escape), so nothing is
// allocated, and it is wiped afterwards because it holds the one-time key
// and its powers.
func authTag(tag *[16]byte, key *[32]byte, ad, ct []byte) {
	var p poly
	p.init(key, true)
	p.padded(ad)
	p.padded(ct)
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[0:8], uint64(len(ad)))
	binary.LittleEndian.PutUint64(lens[8:16], uint64(len(ct)))
	p.blocks(lens[:])
	p.finish(tag)
	p.wipe()
}

// sliceForAppend extends in by n bytes, reusing its capacity when there is
// enough, and returns the whole slice and the n new bytes.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return head, tail
}

// anyOverlap reports whether x and y share memory at any non-ignored index.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}

// inexactOverlap reports whether x and y overlap other than by starting at
// the same address. Exact overlap is what in-place operation means and is
// safe, since each block is read before it is written.
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return anyOverlap(x, y)
}
