// SPDX-License-Identifier: MIT

package aead

import (
	"crypto/cipher"
	"strconv"
	"testing"

	"golang.org/x/crypto/poly1305"
)

// benchSizes: a minimal packet, a typical small one, a full 1420-byte
// WireGuard payload (1500 MTU minus headers) and a GSO-style large one.
var benchSizes = []int{64, 576, 1420, 8192}

// benchImpls runs each size for the accelerated implementation and for
// x/crypto. AAD is empty, as for WireGuard transport data. Besides wall
// time it reports the process's CPU time per call (cpu-ns/op), which a
// shared machine disturbs less.
func benchImpls(b *testing.B, run func(b *testing.B, a cipher.AEAD, n int)) {
	for _, impl := range []struct {
		name  string
		new   func([]byte) (cipher.AEAD, error)
		check func(testing.TB)
	}{
		{"avx512", func(k []byte) (cipher.AEAD, error) { return newAVX512(k) }, requireAVX512},
		{"xcrypto", newGeneric, func(testing.TB) {}},
	} {
		for _, n := range benchSizes {
			b.Run(impl.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				impl.check(b)
				a, err := impl.new(make([]byte, KeySize))
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(n))
				b.ReportAllocs()
				cpu0, ok := processCPU()
				run(b, a, n)
				// b.Loop's timing excludes the setup above; the CPU
				// time includes it, which is negligible next to b.N calls.
				if cpu1, ok1 := processCPU(); ok && ok1 {
					b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

func BenchmarkSeal(b *testing.B) {
	benchImpls(b, func(b *testing.B, a cipher.AEAD, n int) {
		buf := make([]byte, n+Overhead)
		nonce := make([]byte, NonceSize)
		for b.Loop() {
			a.Seal(buf[:0], nonce, buf[:n], nil)
		}
	})
}

func BenchmarkOpen(b *testing.B) {
	benchImpls(b, func(b *testing.B, a cipher.AEAD, n int) {
		nonce := make([]byte, NonceSize)
		sealed := a.Seal(nil, nonce, make([]byte, n), nil)
		out := make([]byte, n)
		for b.Loop() {
			if _, err := a.Open(out[:0], nonce, sealed, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPoly1305 compares the Poly1305 paths alone: scalar Go, the IFMA
// code, and x/crypto.
func BenchmarkPoly1305(b *testing.B) {
	var key [32]byte
	key[0], key[17] = 3, 9
	for _, n := range benchSizes {
		msg := make([]byte, n)
		var tag [16]byte
		for _, m := range polyModes {
			b.Run(m.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				if m.vector {
					requireIFMA(b)
				}
				b.SetBytes(int64(n))
				for b.Loop() {
					var p poly
					p.init(&key, m.vector)
					p.sum(msg, &tag)
				}
			})
		}
		b.Run("xcrypto/"+strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				poly1305.Sum(&tag, msg, &key)
			}
		})
	}
}
