// SPDX-License-Identifier: MIT

package aead

import (
	"bytes"
	"crypto/cipher"
	"testing"
)

// TestWipe: both implementations hold the key where Wipe finds it; after
// Wipe their key state is zero and they seal as with an all-zero key.
func TestWipe(t *testing.T) {
	key := bytes.Repeat([]byte{0xa5}, KeySize)
	zero, err := newGeneric(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	for name, mk := range map[string]func([]byte) (cipher.AEAD, error){
		"generic": newGeneric,
		"avx512":  func(k []byte) (cipher.AEAD, error) { return newAVX512(k) },
	} {
		t.Run(name, func(t *testing.T) {
			a, err := mk(key)
			if err != nil {
				t.Fatal(err)
			}
			if IsWiped(a) {
				t.Fatal("a fresh AEAD reads as wiped")
			}
			if !Wipe(a) {
				t.Fatal("Wipe could not reach the key (has x/crypto's layout changed?)")
			}
			if !IsWiped(a) {
				t.Fatal("key state not zero after Wipe")
			}
			if name == "avx512" && !haveAVX512 {
				return // its Seal needs the CPU; the state check above is what matters
			}
			nonce := make([]byte, NonceSize)
			if got, want := a.Seal(nil, nonce, []byte("x"), nil), zero.Seal(nil, nonce, []byte("x"), nil); !bytes.Equal(got, want) {
				t.Fatal("a wiped AEAD still seals with its old key")
			}
		})
	}
}
