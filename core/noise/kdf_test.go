// SPDX-License-Identifier: MIT

package noise

import (
	"crypto/hmac"
	"encoding/hex"
	"hash"
	"testing"

	"golang.org/x/crypto/blake2s"
)

// The starting values every WireGuard implementation shares; the hex is the
// one published in several independent implementations' test suites.
const (
	wantInitialChainKey = "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36"
	wantInitialHash     = "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3"
)

func TestInitialValues(t *testing.T) {
	if got := hex.EncodeToString(initialChainKey[:]); got != wantInitialChainKey {
		t.Errorf("initial chaining key %s", got)
	}
	if got := hex.EncodeToString(initialHash[:]); got != wantInitialHash {
		t.Errorf("initial hash %s", got)
	}
	// And from the definitions, with a streaming hasher.
	ck := blake2s.Sum256([]byte(construction))
	d, _ := blake2s.New256(nil)
	d.Write(ck[:])
	d.Write([]byte(identifier))
	if hex.EncodeToString(d.Sum(nil)) != wantInitialHash || hex.EncodeToString(ck[:]) != wantInitialChainKey {
		t.Error("definitions disagree with the published constants")
	}
}

// refHMAC is HMAC-BLAKE2s from the standard library's generic HMAC.
func refHMAC(key, data []byte) []byte {
	m := hmac.New(func() hash.Hash { h, _ := blake2s.New256(nil); return h }, key)
	m.Write(data)
	return m.Sum(nil)
}

// refKDF is HKDF-expand as §5.4 defines it, written independently of kdf.
func refKDF(key, input []byte, n int) [][]byte {
	t0 := refHMAC(key, input)
	var out [][]byte
	prev := []byte{}
	for i := 1; i <= n; i++ {
		prev = refHMAC(t0, append(append([]byte{}, prev...), byte(i)))
		out = append(out, prev)
	}
	return out
}

func TestHMACAgainstReference(t *testing.T) {
	key := [32]byte{0xde, 0xad, 0xbe, 0xef}
	for _, n := range []int{0, 1, 32, 33, 64, 65, 200} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		var got [32]byte
		hmacBlake2s(&got, &key, data)
		if want := refHMAC(key[:], data); !hmac.Equal(got[:], want) {
			t.Errorf("len %d: hmac mismatch", n)
		}
	}
}

func TestKDFAgainstReference(t *testing.T) {
	key := initialChainKey
	for _, input := range [][]byte{nil, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, make([]byte, 32)} {
		want := refKDF(key[:], input, 3)
		var a, b, c [32]byte
		kdf1(&a, &key, input)
		if !hmac.Equal(a[:], want[0]) {
			t.Error("kdf1")
		}
		kdf2(&a, &b, &key, input)
		if !hmac.Equal(a[:], want[0]) || !hmac.Equal(b[:], want[1]) {
			t.Error("kdf2")
		}
		kdf3(&a, &b, &c, &key, input)
		if !hmac.Equal(a[:], want[0]) || !hmac.Equal(b[:], want[1]) || !hmac.Equal(c[:], want[2]) {
			t.Error("kdf3")
		}
		// Output aliasing the key, as the handshake uses it.
		k := key
		kdf2(&k, &b, &k, input)
		if !hmac.Equal(k[:], want[0]) || !hmac.Equal(b[:], want[1]) {
			t.Error("kdf2 with aliased key")
		}
	}
}

func TestMixHashAgainstReference(t *testing.T) {
	for _, n := range []int{0, 32, 48, 64, 65, 100} {
		h := initialHash
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i)
		}
		want := blake2s.Sum256(append(append([]byte{}, h[:]...), data...))
		mixHash(&h, data)
		if h != want {
			t.Errorf("len %d", n)
		}
	}
}
