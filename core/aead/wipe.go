// SPDX-License-Identifier: MIT

package aead

import (
	"crypto/cipher"
	"reflect"

	"golang.org/x/crypto/chacha20poly1305"
)

// x/crypto's AEAD copies the key into an unexported struct that holds
// nothing else ([32]byte) and offers no way to clear it. genericKey finds
// that array through the interface's data pointer, but only after checking
// at start-up that the dynamic type is still exactly that layout: if a
// future x/crypto changes it, Wipe reports false instead of writing over
// memory it does not understand (and TestWipe fails).
var genericType, genericLayoutKnown = func() (reflect.Type, bool) {
	a, err := chacha20poly1305.New(make([]byte, KeySize))
	if err != nil {
		return nil, false
	}
	t := reflect.TypeOf(a)
	if t.Kind() != reflect.Pointer {
		return t, false
	}
	e := t.Elem()
	ok := e.Kind() == reflect.Struct && e.Size() == KeySize && e.NumField() == 1 &&
		e.Field(0).Type == reflect.TypeOf([KeySize]byte{})
	return t, ok
}()

func genericKey(a cipher.AEAD) *[KeySize]byte {
	if !genericLayoutKnown || reflect.TypeOf(a) != genericType {
		return nil
	}
	return (*[KeySize]byte)(reflect.ValueOf(a).UnsafePointer())
}

// Wipe overwrites the key material held by an AEAD that New returned and
// reports whether it could. After Wipe the AEAD must not be used: it would
// seal and open with an all-zero key. The caller makes sure no goroutine is
// still inside Seal or Open.
//
// What this reaches is the AEAD's own copy of the key: the eight state words
// of the AVX-512 implementation, the 32-byte key of x/crypto's. It cannot
// reach copies that Go keeps out of sight: the ChaCha20 state and the
// one-time Poly1305 key that each Seal or Open builds on its goroutine's
// stack (later calls overwrite them; a stack that moves when it grows
// leaves its old copy unwiped), and vector registers.
func Wipe(a cipher.AEAD) bool {
	switch c := a.(type) {
	case *chachaAVX512:
		clear(c.key[:])
		return true
	}
	if k := genericKey(a); k != nil {
		clear(k[:])
		return true
	}
	return false
}

// IsWiped reports whether the key material of an AEAD that New returned is
// all zero, as Wipe leaves it; false for an AEAD it cannot inspect. It is
// for tests and assertions.
func IsWiped(a cipher.AEAD) bool {
	switch c := a.(type) {
	case *chachaAVX512:
		return c.key == [8]uint32{}
	}
	if k := genericKey(a); k != nil {
		return *k == [KeySize]byte{}
	}
	return false
}
