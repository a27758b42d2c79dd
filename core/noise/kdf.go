// SPDX-License-Identifier: MIT

package noise

import (
	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
)

// Symmetric primitives of the handshake (§5.4, "Symmetric Encryption
// Primitives"): HASH is BLAKE2s-256, HMAC is HMAC-BLAKE2s, KDFn is HKDF with
// that HMAC, AEAD is ChaCha20-Poly1305. Inputs here are at most a few dozen
// bytes, so the helpers hash from stack buffers instead of building
// hash.Hash values; that keeps the handshake free of per-call allocations
// other than the AEAD instance.

const (
	hashSize       = blake2s.Size      // 32
	blake2sBlock   = blake2s.BlockSize // 64, the HMAC block size
	maxSmallInput  = 64                // largest input hashed from the stack
	hmacInnerLimit = blake2sBlock + maxSmallInput
)

// initialChainKey and initialHash are the handshake's starting values
// (§5.4.2): Ci = HASH(Construction), Hi = HASH(Ci || Identifier). They
// depend on nothing secret, so they are computed once.
var initialChainKey, initialHash [hashSize]byte

func init() {
	initialChainKey = blake2s.Sum256([]byte(construction))
	var buf [hashSize + len(identifier)]byte
	copy(buf[:], initialChainKey[:])
	copy(buf[hashSize:], identifier)
	initialHash = blake2s.Sum256(buf[:])
}

// mixHash sets h = HASH(h || data).
func mixHash(h *[hashSize]byte, data []byte) {
	var buf [hashSize + maxSmallInput]byte
	in := scratch(buf[:0], hashSize+len(data))
	in = append(in, h[:]...)
	in = append(in, data...)
	*h = blake2s.Sum256(in)
	clear(in)
}

// scratch returns small if n bytes fit in it, else a new slice of capacity
// n. Handshake inputs always fit, which keeps the buffers on the stack;
// the heap path exists so that the helpers stay correct for any input.
func scratch(small []byte, n int) []byte {
	if n <= cap(small) {
		return small[:0]
	}
	return make([]byte, 0, n)
}

// hmacBlake2s sets out = HMAC-BLAKE2s(key, data) (RFC 2104 with a 64-byte
// block). Keys here are always 32 bytes, shorter than a block, so they are
// only zero padded.
func hmacBlake2s(out, key *[hashSize]byte, data []byte) {
	var small [hmacInnerLimit]byte
	inner := scratch(small[:0], blake2sBlock+len(data))
	for i := range blake2sBlock {
		var kb byte
		if i < hashSize {
			kb = key[i]
		}
		inner = append(inner, kb^0x36)
	}
	inner = append(inner, data...)
	ih := blake2s.Sum256(inner)
	var outer [blake2sBlock + hashSize]byte
	for i := range blake2sBlock {
		var kb byte
		if i < hashSize {
			kb = key[i]
		}
		outer[i] = kb ^ 0x5c
	}
	copy(outer[blake2sBlock:], ih[:])
	*out = blake2s.Sum256(outer[:])
	// The padded key and inner digest are as secret as the key itself.
	clear(inner)
	clear(outer[:])
	clear(ih[:])
}

// kdf is the HKDF of §5.4 with up to three outputs:
//
//	T0 = HMAC(key, input); T1 = HMAC(T0, 0x1); Ti = HMAC(T0, Ti-1 || i)
//
// A nil output is not computed (KDF1 and KDF2 are prefixes of KDF3). Outputs
// may alias key: key is read only to make T0.
func kdf(key *[hashSize]byte, input []byte, t1, t2, t3 *[hashSize]byte) {
	var t0, prev [hashSize]byte
	var buf [hashSize + 1]byte
	hmacBlake2s(&t0, key, input)

	buf[0] = 1
	hmacBlake2s(&prev, &t0, buf[:1])
	if t1 != nil {
		*t1 = prev
	}
	if t2 != nil || t3 != nil {
		copy(buf[:], prev[:])
		buf[hashSize] = 2
		hmacBlake2s(&prev, &t0, buf[:])
		if t2 != nil {
			*t2 = prev
		}
	}
	if t3 != nil {
		copy(buf[:], prev[:])
		buf[hashSize] = 3
		hmacBlake2s(t3, &t0, buf[:])
	}
	clear(t0[:])
	clear(prev[:])
	clear(buf[:])
}

// kdf1, kdf2 and kdf3 name the three uses in the whitepaper.
func kdf1(t1, key *[hashSize]byte, input []byte)     { kdf(key, input, t1, nil, nil) }
func kdf2(t1, t2, key *[hashSize]byte, input []byte) { kdf(key, input, t1, t2, nil) }
func kdf3(t1, t2, t3, key *[hashSize]byte, input []byte) {
	kdf(key, input, t1, t2, t3)
}

// zeroNonce is the AEAD nonce of every handshake encryption: each key
// derived during the handshake encrypts exactly one message (§5.4.2).
var zeroNonce [chacha20poly1305.NonceSize]byte

// sealTo encrypts plaintext under key with additional data ad into
// dst[:len(plaintext)+TagSize]. dst must not overlap plaintext.
func sealTo(dst []byte, key *[hashSize]byte, plaintext, ad []byte) {
	aead, _ := chacha20poly1305.New(key[:]) // error only for a wrong key size
	aead.Seal(dst[:0], zeroNonce[:], plaintext, ad)
}

// openTo decrypts ciphertext into dst[:len(ciphertext)-TagSize].
func openTo(dst []byte, key *[hashSize]byte, ciphertext, ad []byte) error {
	aead, _ := chacha20poly1305.New(key[:])
	if _, err := aead.Open(dst[:0], zeroNonce[:], ciphertext, ad); err != nil {
		return ErrDecrypt
	}
	return nil
}
