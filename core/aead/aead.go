// Package aead provides the ChaCha20-Poly1305 AEAD (RFC 8439) used for
// WireGuard transport data.
//
// It holds an implementation for amd64 CPUs with AVX-512 (F, VL and BW)
// whose ChaCha20 runs 16 blocks at a time in ZMM registers, next to
// golang.org/x/crypto/chacha20poly1305. Both produce identical output and
// accept exactly the same inputs; New picks one (see Accelerated).
//
// The AVX-512 implementation makes two separate passes over the data, one
// for ChaCha20 and one for Poly1305 (x/crypto's scalar Poly1305), rather
// than one fused pass as x/crypto's AVX2 code does. That keeps the new
// assembly small, reuses audited Poly1305 code, and lets Open verify the tag
// before it writes a single byte of plaintext. It is also why the result is
// only slightly faster than x/crypto: Poly1305 alone costs about 1.1
// cycles/byte and is latency bound, and x/crypto's fused loop already hides
// much of its ChaCha20 work behind that latency, so a separate ChaCha20 pass,
// however fast (about 0.64 cycles/byte here), mostly adds to it. On the
// shared 2-vCPU Sapphire Rapids machine it was measured on, Seal of 1420
// bytes came out at about 1.1x x/crypto (1.0-1.3x across runs) and Open at
// about 1.04x (0.85-1.2x, and x/crypto's best runs beat it), so New does
// not use it by default. A clear win needs a fused AVX-512 loop with its
// own Poly1305.
package aead

import (
	"crypto/cipher"
	"crypto/fips140"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"os"
	"unsafe"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/poly1305"
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
// WGPLEX_AEAD is unset. It is off because the measured gain is marginal and
// Open is not faster (see the package comment); flip it if a faster
// implementation lands.
const avx512ByDefault = false

// aeadEnv is WGPLEX_AEAD, read once: switching implementations while keys are
// live would gain nothing, and a per-call getenv would cost on the hot path.
// "generic" forces x/crypto (for a misbehaving CPU, or to compare),
// "avx512" asks for the AVX-512 implementation where the CPU has it.
var aeadEnv = os.Getenv("WGPLEX_AEAD")

// Accelerated reports whether New returns the AVX-512 implementation. That
// needs a CPU and OS with AVX512F, AVX512VL and AVX512BW, an amd64 build
// without the purego tag, no FIPS 140-only mode (where ChaCha20-Poly1305 is
// refused anyway), and either WGPLEX_AEAD=avx512 or avx512ByDefault; with
// WGPLEX_AEAD=generic it is always false.
func Accelerated() bool {
	if !haveAVX512 || fips140.Enforced() {
		return false
	}
	switch aeadEnv {
	case "generic":
		return false
	case "avx512":
		return true
	}
	return avx512ByDefault
}

// New returns a ChaCha20-Poly1305 AEAD for the 32-byte key: the AVX-512
// implementation when Accelerated reports true, otherwise x/crypto's.
// The key is copied; the caller may reuse its slice.
func New(key []byte) (cipher.AEAD, error) {
	if !Accelerated() {
		return chacha20poly1305.New(key)
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
	case n <= 7*64:
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

	xorBytes(out, ct[:m], ks[:m])
	clear(ks[:m])
	if n > m {
		st[12] = uint32(1 + m/64)
		xorKeyStream(out[m:], ct[m:], st, nil)
	}
	return true
}

// authTag computes the RFC 8439 §2.8 tag: Poly1305 over
// AAD || pad16 || ciphertext || pad16 || le64(len AAD) || le64(len ct).
// The ciphertext's partial last block, its padding and the two lengths go
// in as one write to save a call into the Poly1305 assembly. x/crypto's MAC
// is built on the stack here (its constructor inlines), so this does not
// allocate.
func authTag(tag *[16]byte, key *[32]byte, ad, ct []byte) {
	var buf [32]byte
	m := poly1305.New(key)
	if len(ad) > 0 {
		full := len(ad) &^ 15
		m.Write(ad[:full])
		if full < len(ad) {
			copy(buf[:], ad[full:])
			m.Write(buf[:16])
			clear(buf[:16])
		}
	}
	full := len(ct) &^ 15
	m.Write(ct[:full])
	k := copy(buf[:], ct[full:])
	if k > 0 {
		k = 16
	}
	binary.LittleEndian.PutUint64(buf[k:], uint64(len(ad)))
	binary.LittleEndian.PutUint64(buf[k+8:], uint64(len(ct)))
	m.Write(buf[:k+16])
	m.Sum(tag[:0])
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
