// SPDX-License-Identifier: MIT

package aead

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"math/big"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

// unhexColons is unhex for the RFC's colon-separated bytes.
func unhexColons(s string) []byte { return unhex(strings.ReplaceAll(s, ":", "")) }

// A second reference for the AVX-512 implementation, written from the text
// of RFC 8439 and sharing nothing with golang.org/x/crypto: ChaCha20 one
// block at a time in plain Go (§2.1-2.4) and Poly1305 in math/big (§2.5),
// put together as §2.8 says. It is slow and simple on purpose, so that a
// bug common to the assembly and x/crypto (both fast, both tricky) would
// have to be a bug in this too. TestRFC8439Reference checks it against the
// RFC's own vectors first.

// rfcQuarterRound is §2.1.
func rfcQuarterRound(x *[16]uint32, a, b, c, d int) {
	x[a] += x[b]
	x[d] = bits.RotateLeft32(x[d]^x[a], 16)
	x[c] += x[d]
	x[b] = bits.RotateLeft32(x[b]^x[c], 12)
	x[a] += x[b]
	x[d] = bits.RotateLeft32(x[d]^x[a], 8)
	x[c] += x[d]
	x[b] = bits.RotateLeft32(x[b]^x[c], 7)
}

// rfcBlock is the ChaCha20 block function of §2.3.
func rfcBlock(key []byte, counter uint32, nonce []byte) [64]byte {
	var s [16]uint32
	s[0], s[1], s[2], s[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	for i := range 8 {
		s[4+i] = binary.LittleEndian.Uint32(key[4*i:])
	}
	s[12] = counter
	for i := range 3 {
		s[13+i] = binary.LittleEndian.Uint32(nonce[4*i:])
	}
	x := s
	for range 10 {
		rfcQuarterRound(&x, 0, 4, 8, 12)
		rfcQuarterRound(&x, 1, 5, 9, 13)
		rfcQuarterRound(&x, 2, 6, 10, 14)
		rfcQuarterRound(&x, 3, 7, 11, 15)
		rfcQuarterRound(&x, 0, 5, 10, 15)
		rfcQuarterRound(&x, 1, 6, 11, 12)
		rfcQuarterRound(&x, 2, 7, 8, 13)
		rfcQuarterRound(&x, 3, 4, 9, 14)
	}
	var out [64]byte
	for i := range 16 {
		binary.LittleEndian.PutUint32(out[4*i:], x[i]+s[i])
	}
	return out
}

// rfcEncrypt is §2.4: data XOR the key stream from counter on.
func rfcEncrypt(key []byte, counter uint32, nonce, data []byte) []byte {
	out := make([]byte, len(data))
	for i := 0; i < len(data); i += 64 {
		ks := rfcBlock(key, counter+uint32(i/64), nonce)
		for j := i; j < len(data) && j < i+64; j++ {
			out[j] = data[j] ^ ks[j-i]
		}
	}
	return out
}

// leInt reads b as a little-endian unsigned number.
func leInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(be)
}

// rfcPoly1305 is §2.5.1, with big integers.
func rfcPoly1305(msg, key []byte) [16]byte {
	clamp := leInt([]byte{0xff, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f, 0xfc, 0xff, 0xff, 0x0f})
	r := new(big.Int).And(leInt(key[:16]), clamp)
	s := leInt(key[16:32])
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 130), big.NewInt(5))
	acc := new(big.Int)
	for i := 0; i < len(msg); i += 16 {
		chunk := msg[i:min(i+16, len(msg))]
		n := leInt(append(append([]byte(nil), chunk...), 1))
		acc.Add(acc, n)
		acc.Mul(acc, r)
		acc.Mod(acc, p)
	}
	acc.Add(acc, s)
	var tag [16]byte
	be := acc.Bytes()
	for i := 0; i < len(be) && i < 16; i++ {
		tag[i] = be[len(be)-1-i]
	}
	return tag
}

// rfcSeal is the AEAD construction of §2.8: the one-time Poly1305 key from
// block 0 (§2.6), the data encrypted from block 1, and the tag over the
// padded additional data, the padded ciphertext and both lengths.
func rfcSeal(key, nonce, plaintext, aad []byte) []byte {
	block0 := rfcBlock(key, 0, nonce)
	ct := rfcEncrypt(key, 1, nonce, plaintext)
	pad := func(b []byte) []byte { return append(b, make([]byte, (16-len(b)%16)%16)...) }
	mac := pad(append([]byte(nil), aad...))
	mac = pad(append(mac, ct...))
	mac = binary.LittleEndian.AppendUint64(mac, uint64(len(aad)))
	mac = binary.LittleEndian.AppendUint64(mac, uint64(len(ct)))
	tag := rfcPoly1305(mac, block0[:32])
	return append(ct, tag[:]...)
}

// TestRFC8439Reference: the reference gives the RFC's own results (§2.5.2
// for Poly1305 alone, the AEAD vectors of §2.8.2 and Appendix A.5).
func TestRFC8439Reference(t *testing.T) {
	key := unhexColons("85:d6:be:78:57:55:6d:33:7f:44:52:fe:42:d5:06:a8:01:03:80:8a:fb:0d:b2:fd:4a:bf:f6:af:41:49:f5:1b")
	tag := rfcPoly1305([]byte("Cryptographic Forum Research Group"), key)
	if want := unhexColons("a8:06:1d:c1:30:51:36:c6:c2:2b:8b:af:0c:01:27:a9"); !bytes.Equal(tag[:], want) {
		t.Fatalf("Poly1305 §2.5.2: got %x, want %x", tag, want)
	}
	for _, v := range aeadVectors {
		got := rfcSeal(unhex(v.key), unhex(v.nonce), v.plaintext, unhex(v.aad))
		if want := unhex(v.sealed); !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %x\nwant %x", v.name, got, want)
		}
	}
}

// checkRFC8439 seals with a and compares with the reference, then opens the
// reference's output with a.
func checkRFC8439(t testing.TB, a cipher.AEAD, key, nonce, aad, pt []byte) {
	t.Helper()
	want := rfcSeal(key, nonce, pt, aad)
	if got := a.Seal(nil, nonce, pt, aad); !bytes.Equal(got, want) {
		t.Fatalf("%T: Seal of %d bytes (%d of additional data) differs from the RFC 8439 reference", a, len(pt), len(aad))
	}
	back, err := a.Open(nil, nonce, want, aad)
	if err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("%T: Open of the reference's %d bytes: %v", a, len(pt), err)
	}
}

// TestDifferentialRFC8439: the AVX-512 implementation (and x/crypto's, as a
// check on the check) against the RFC 8439 reference for every length up to
// past two of the assembly's 16-block batches, and random longer ones.
func TestDifferentialRFC8439(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			impl.check(t)
			rng := rand.New(rand.NewPCG(8439, 1))
			key, nonce := make([]byte, 32), make([]byte, 12)
			maxLen, random := 2200, 40
			if !exhaustive() {
				maxLen, random = 1100, 5
			}
			run := func(n int) {
				aad, pt := randomCase(rng, key, nonce, 80, n)
				a, err := impl.new(key)
				if err != nil {
					t.Fatal(err)
				}
				checkRFC8439(t, a, key, nonce, aad, pt)
			}
			for n := 0; n <= maxLen; n++ {
				run(n)
			}
			for range random {
				run(rng.IntN(65536))
			}
		})
	}
}

// FuzzAEADRFC8439 compares the AVX-512 implementation where the CPU has it
// (x/crypto's elsewhere) with the RFC 8439 reference on any input.
func FuzzAEADRFC8439(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 12), []byte{}, []byte("x"))
	f.Add(unhex(aeadVectors[0].key), unhex(aeadVectors[0].nonce), unhex(aeadVectors[0].aad), aeadVectors[0].plaintext)
	f.Add(bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0xff}, 12), bytes.Repeat([]byte{0xff}, 17), bytes.Repeat([]byte{0xff}, 1420))
	f.Fuzz(func(t *testing.T, key, nonce, aad, pt []byte) {
		if len(key) != KeySize || len(nonce) != NonceSize || len(pt) > 1<<16 {
			return
		}
		a, err := newGeneric(key)
		if haveAVX512 {
			a, err = newAVX512(key)
		}
		if err != nil {
			t.Fatal(err)
		}
		checkRFC8439(t, a, key, nonce, aad, pt)
	})
}
