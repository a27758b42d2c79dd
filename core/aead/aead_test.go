// SPDX-License-Identifier: MIT

package aead

import (
	"bytes"
	"crypto/cipher"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
)

// requireAVX512 skips tests of the assembly on machines (or builds) that
// cannot run it, saying why, so a skip is never mistaken for a pass.
func requireAVX512(t testing.TB) {
	t.Helper()
	if !haveAVX512 {
		t.Skip("AVX-512 implementation unavailable: not amd64, purego build, or CPU/OS lacks AVX512F+VL+BW+IFMA")
	}
}

type implementation struct {
	name  string
	new   func(key []byte) (cipher.AEAD, error)
	check func(testing.TB)
	// untouched: a failed in-place Open leaves the buffer as it was.
	// x/crypto's AVX2 code decrypts before it knows the tag is bad and
	// then zeroes the output instead.
	untouched bool
}

// implementations lists both constructors so that one test run covers the
// accelerated code and the fallback New uses elsewhere.
func implementations() []implementation {
	return []implementation{
		{"avx512", func(key []byte) (cipher.AEAD, error) { return newAVX512(key) }, requireAVX512, true},
		{"generic", newGeneric, func(testing.TB) {}, false},
	}
}

func TestAccelerated(t *testing.T) {
	t.Logf("Accelerated() = %v (haveAVX512 = %v, WGPLEX_AEAD=%q)", Accelerated(), haveAVX512, os.Getenv("WGPLEX_AEAD"))
	a, err := New(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	_, fast := a.(*chachaAVX512)
	if fast != Accelerated() {
		t.Errorf("New returned %T, Accelerated() = %v", a, Accelerated())
	}
	if want := map[bool]string{true: "avx512", false: "generic"}[fast]; Implementation() != want {
		t.Errorf("New returned %T, Implementation() = %q, want %q", a, Implementation(), want)
	}
}

// TestEnvSwitch re-runs the test binary with each WGPLEX_AEAD value, because
// the variable is only read at package initialisation.
func TestEnvSwitch(t *testing.T) {
	if want := os.Getenv("AEAD_TEST_WANT"); want != "" {
		a, err := New(make([]byte, KeySize))
		if err != nil {
			t.Fatal(err)
		}
		_, fast := a.(*chachaAVX512)
		if got := strconv.FormatBool(fast); got != want || Accelerated() != fast {
			t.Fatalf("WGPLEX_AEAD=%q: New returned %T, Accelerated() = %v, want AVX-512 %s",
				os.Getenv("WGPLEX_AEAD"), a, Accelerated(), want)
		}
		return
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	for env, want := range map[string]bool{
		"generic": false,
		"avx512":  haveAVX512,
		"":        haveAVX512 && avx512ByDefault,
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvSwitch$", "-test.v")
		cmd.Env = append(os.Environ(), "WGPLEX_AEAD="+env, "AEAD_TEST_WANT="+strconv.FormatBool(want))
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestEnvSwitch") {
			t.Errorf("WGPLEX_AEAD=%q: %v\n%s", env, err, out)
		}
	}
}

func TestKeySize(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 16, 31, 33, 64} {
				key := bytes.Repeat([]byte{0xa5}, n)
				a, err := impl.new(key)
				if err == nil {
					t.Fatalf("len %d: no error (got %T)", n, a)
				}
				if strings.Contains(err.Error(), "a5") || strings.Contains(err.Error(), "\xa5") {
					t.Errorf("error %q leaks key bytes", err)
				}
			}
		})
	}
	if _, err := New(make([]byte, 31)); err == nil {
		t.Error("New accepted a 31-byte key")
	}
}

// refKeyStream XORs with x/crypto's ChaCha20, the reference for the raw
// keystream function.
func refKeyStream(t *testing.T, key, nonce []byte, counter uint32, dst, src []byte) {
	t.Helper()
	c, err := chacha20.NewUnauthenticatedCipher(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	c.SetCounter(counter)
	c.XORKeyStream(dst, src)
}

// TestKeyStreamReference compares the assembly with x/crypto for every length
// up to a few batches, with and without the diverted first block, in and out
// of place, and checks that nothing past len(src) is written.
func TestKeyStreamReference(t *testing.T) {
	requireAVX512(t)
	rng := rand.New(rand.NewPCG(1, 2))
	key, nonce := make([]byte, 32), make([]byte, 12)
	maxLen := 2300
	if !exhaustive() {
		maxLen = 1100
	}
	const guard = 80
	for n := 0; n <= maxLen; n++ {
		fillRand(rng, key)
		fillRand(rng, nonce)
		counter := rng.Uint32N(1 << 20)
		src := make([]byte, n)
		fillRand(rng, src)
		st := testState(t, key, nonce, counter)

		want := make([]byte, n)
		refKeyStream(t, key, nonce, counter, want, src)
		got := make([]byte, n+guard)
		xorKeyStream(got[:n], src, &st, nil)
		if !bytes.Equal(got[:n], want) {
			t.Fatalf("len %d counter %d: mismatch", n, counter)
		}
		if !bytes.Equal(got[n:], make([]byte, guard)) {
			t.Fatalf("len %d: wrote past the end", n)
		}

		// Diverted first block: data starts one block later.
		var first, wantFirst [64]byte
		refKeyStream(t, key, nonce, counter, wantFirst[:], wantFirst[:])
		refKeyStream(t, key, nonce, counter+1, want, src)
		buf := append(bytes.Clone(src), make([]byte, guard)...)
		xorKeyStream(buf[:n], buf[:n], &st, &first)
		if !bytes.Equal(buf[:n], want) || first != wantFirst {
			t.Fatalf("len %d: mismatch with first block", n)
		}
		if !bytes.Equal(buf[n:], make([]byte, guard)) {
			t.Fatalf("len %d: wrote past the end (first block)", n)
		}
		if st[12] != counter {
			t.Fatalf("state modified")
		}
	}
}

// TestKeyStreamLarge covers many 16-block batches, including the largest
// packet size, and a counter close to the 32-bit limit (no wrap for
// counter+blocks <= 2^32).
func TestKeyStreamLarge(t *testing.T) {
	requireAVX512(t)
	rng := rand.New(rand.NewPCG(3, 4))
	key, nonce := make([]byte, 32), make([]byte, 12)
	for _, tc := range []struct {
		n       int
		counter uint32
	}{
		{65535, 0}, {65536, 1}, {16 * 64 * 7, 5}, {100000, 1 << 31}, {64 * 100, 1<<32 - 100},
	} {
		fillRand(rng, key)
		fillRand(rng, nonce)
		src := make([]byte, tc.n)
		fillRand(rng, src)
		want := make([]byte, tc.n)
		refKeyStream(t, key, nonce, tc.counter, want, src)
		st := testState(t, key, nonce, tc.counter)
		got := make([]byte, tc.n)
		xorKeyStream(got, src, &st, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("len %d counter %d: mismatch", tc.n, tc.counter)
		}
	}
}

func fillRand(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// checkAgainstReference seals with both a and x/crypto, compares, opens in and
// out of place, and checks that tampering is rejected (and, if untouched,
// leaves the in-place buffer as it was). allFlips selects which single-bit flips to try: all of them,
// or a sample.
func checkAgainstReference(t *testing.T, a, ref cipher.AEAD, untouched bool, nonce, aad, pt []byte, rng *rand.Rand, allFlips bool) {
	t.Helper()
	n := len(pt)
	want := ref.Seal(nil, nonce, pt, aad)

	// Out of place, appending to a non-empty dst.
	prefix := []byte("prefix")
	got := a.Seal(bytes.Clone(prefix), nonce, pt, aad)
	if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], want) {
		t.Fatalf("len %d aad %d: Seal differs from x/crypto", n, len(aad))
	}
	// In place.
	buf := make([]byte, n, n+Overhead)
	copy(buf, pt)
	sealed := a.Seal(buf[:0], nonce, buf, aad)
	if &sealed[0] != &buf[:1][0] || !bytes.Equal(sealed, want) {
		t.Fatalf("len %d aad %d: in-place Seal differs", n, len(aad))
	}

	// Open out of place and in place.
	opened, err := a.Open([]byte("x"), nonce, want, aad)
	if err != nil || !bytes.Equal(opened[1:], pt) || opened[0] != 'x' {
		t.Fatalf("len %d aad %d: Open failed: %v", n, len(aad), err)
	}
	opened, err = a.Open(sealed[:0], nonce, sealed, aad)
	if err != nil || !bytes.Equal(opened, pt) {
		t.Fatalf("len %d aad %d: in-place Open failed: %v", n, len(aad), err)
	}

	// Tampering: each flip must fail, return nil, and leave an in-place
	// buffer exactly as it was.
	tryFlip := func(region string, i int) {
		ct := bytes.Clone(want)
		ad := bytes.Clone(aad)
		if region == "aad" {
			ad[i/8] ^= 1 << (i % 8)
		} else {
			ct[i/8] ^= 1 << (i % 8)
		}
		orig := bytes.Clone(ct)
		out, err := a.Open(ct[:0], nonce, ct, ad)
		if err == nil || out != nil {
			t.Fatalf("len %d aad %d: flip of %s bit %d accepted", n, len(aad), region, i)
		}
		if !errors.Is(err, ErrOpen) && err.Error() != ErrOpen.Error() {
			t.Fatalf("unexpected error %v", err)
		}
		if untouched && !bytes.Equal(ct, orig) {
			t.Fatalf("len %d: failed in-place Open modified the buffer", n)
		}
	}
	if allFlips {
		for i := range 8 * len(want) {
			tryFlip("ct", i)
		}
		for i := range 8 * len(aad) {
			tryFlip("aad", i)
		}
	} else {
		// First and last bit of every region plus random ones.
		bits := 8 * len(want)
		for _, i := range []int{0, 7, 8*n - 1, 8 * n, bits - 1} {
			if i >= 0 && i < bits {
				tryFlip("ct", i)
			}
		}
		for range 6 {
			tryFlip("ct", rng.IntN(bits))
		}
		if len(aad) > 0 {
			tryFlip("aad", 0)
			tryFlip("aad", rng.IntN(8*len(aad)))
		}
	}
	// Wrong nonce.
	wrong := bytes.Clone(nonce)
	wrong[rng.IntN(len(wrong))] ^= 0x80
	if _, err := a.Open(nil, wrong, want, aad); err == nil {
		t.Fatalf("len %d: wrong nonce accepted", n)
	}
}

// exhaustiveFlip reports whether every single-bit flip is tried for a
// length: all short messages and every length around a batch or buffer
// boundary of the assembly; other lengths get a sample, which keeps the
// test to seconds.
func exhaustiveFlip(n int) bool {
	if n <= 200 {
		return true
	}
	for _, b := range []int{448, 512, 960, 1024, 1420, 1984, 2048} {
		if n >= b-2 && n <= b+2 {
			return true
		}
	}
	return false
}

// randomCase fills key and nonce from rng and returns random additional
// data of fewer than maxAAD bytes and n bytes of random plaintext.
func randomCase(rng *rand.Rand, key, nonce []byte, maxAAD, n int) (aad, pt []byte) {
	fillRand(rng, key)
	fillRand(rng, nonce)
	aad = make([]byte, rng.IntN(maxAAD))
	fillRand(rng, aad)
	pt = make([]byte, n)
	fillRand(rng, pt)
	return aad, pt
}

func TestDifferential(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			impl.check(t)
			rng := rand.New(rand.NewPCG(5, 6))
			key, nonce := make([]byte, 32), make([]byte, 12)
			maxLen, random := 2100, 200
			if !exhaustive() {
				maxLen, random = 1100, 20
			}
			run := func(n int, allFlips bool) {
				aad, pt := randomCase(rng, key, nonce, 65, n)
				a, err := impl.new(key)
				if err != nil {
					t.Fatal(err)
				}
				ref, _ := chacha20poly1305.New(key)
				checkAgainstReference(t, a, ref, impl.untouched, nonce, aad, pt, rng, allFlips)
			}
			for n := 0; n <= maxLen; n++ {
				run(n, exhaustiveFlip(n))
			}
			for range random {
				run(rng.IntN(65536), false)
			}
			run(65535, false)
		})
	}
}

func TestShortCiphertext(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			impl.check(t)
			a, _ := impl.new(make([]byte, 32))
			for n := range 16 {
				buf := bytes.Repeat([]byte{0x5a}, n)
				out, err := a.Open(buf[:0], make([]byte, 12), buf, nil)
				if err == nil || out != nil {
					t.Errorf("len %d: Open = %v, %v", n, out, err)
				}
				if impl.untouched && !bytes.Equal(buf, bytes.Repeat([]byte{0x5a}, n)) {
					t.Errorf("len %d: buffer modified", n)
				}
			}
		})
	}
}

// panics reports whether f panics, and with what.
func panics(f func()) (msg any) {
	defer func() { msg = recover() }()
	f()
	return nil
}

// TestPanics checks that the accelerated implementation panics exactly where
// x/crypto does, with the same message.
func TestPanics(t *testing.T) {
	requireAVX512(t)
	key := make([]byte, 32)
	a, _ := newAVX512(key)
	ref, _ := chacha20poly1305.New(key)
	buf := make([]byte, 256)
	nonce := make([]byte, 12)
	sealed := ref.Seal(nil, nonce, buf[:100], nil)
	cases := []struct {
		name string
		f    func(cipher.AEAD)
	}{
		{"seal short nonce", func(c cipher.AEAD) { c.Seal(nil, nonce[:11], nil, nil) }},
		{"seal long nonce", func(c cipher.AEAD) { c.Seal(nil, make([]byte, 24), nil, nil) }},
		{"open short nonce", func(c cipher.AEAD) { c.Open(nil, nonce[:8], sealed, nil) }},
		{"seal inexact overlap", func(c cipher.AEAD) { c.Seal(buf[1:1], nonce, buf[:100], nil) }},
		{"seal overlap aad", func(c cipher.AEAD) { c.Seal(buf[:0], nonce, buf[150:160], buf[10:20]) }},
		{"open inexact overlap", func(c cipher.AEAD) {
			b := make([]byte, 200)
			copy(b[50:], sealed)
			c.Open(b[49:49], nonce, b[50:50+len(sealed)], nil)
		}},
		{"open overlap aad", func(c cipher.AEAD) {
			b := make([]byte, 300)
			copy(b, sealed)
			c.Open(b[150:150], nonce, b[:len(sealed)], b[160:170])
		}},
		{"exact overlap ok", func(c cipher.AEAD) {
			b := make([]byte, 100, 116)
			c.Seal(b[:0], nonce, b, nil)
		}},
		{"empty ok", func(c cipher.AEAD) { c.Seal(nil, nonce, nil, nil) }},
	}
	for _, tc := range cases {
		got, want := panics(func() { tc.f(a) }), panics(func() { tc.f(ref) })
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: panic %v, x/crypto %v", tc.name, got, want)
		}
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			impl.check(t)
			a, _ := impl.new(make([]byte, 32))
			nonce, aad := make([]byte, 12), make([]byte, 16)
			for _, n := range []int{0, 1, 64, 1420, 8192} {
				buf := make([]byte, n+Overhead)
				out := make([]byte, 0, n+Overhead)
				if allocs := testing.AllocsPerRun(50, func() {
					sealed := a.Seal(buf[:0], nonce, buf[:n], aad)
					if _, err := a.Open(sealed[:0], nonce, sealed, aad); err != nil {
						panic(err)
					}
					a.Seal(out[:0], nonce, buf[:n], aad)
					buf[0] ^= 1
					a.Open(out[:0], nonce, buf, aad)
					buf[0] ^= 1
				}); allocs != 0 {
					// Only the AVX-512 code is ours to hold to zero;
					// x/crypto's portable code (purego, most non-amd64
					// targets) does allocate.
					if impl.name == "avx512" {
						t.Errorf("len %d: %v allocations per Seal+Open", n, allocs)
					} else {
						t.Logf("len %d: %v allocations per Seal+Open (x/crypto)", n, allocs)
					}
				}
			}
		})
	}
}

// FuzzAEAD checks the accelerated implementation against x/crypto on
// arbitrary inputs: identical Seal output, Open round trip, and rejection of
// a flipped bit chosen by the fuzzer.
func FuzzAEAD(f *testing.F) {
	f.Add([]byte("key"), []byte("nonce"), []byte("aad"), []byte("plaintext"), uint32(0))
	f.Add(make([]byte, 32), make([]byte, 12), []byte{}, make([]byte, 1420), uint32(12345))
	f.Add([]byte{1}, []byte{2}, make([]byte, 64), make([]byte, 960), uint32(7))
	f.Fuzz(func(t *testing.T, keySeed, nonceSeed, aad, pt []byte, flip uint32) {
		requireAVX512(t)
		var key [32]byte
		var nonce [12]byte
		copy(key[:], keySeed)
		copy(nonce[:], nonceSeed)
		a, err := newAVX512(key[:])
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := chacha20poly1305.New(key[:])
		want := ref.Seal(nil, nonce[:], pt, aad)
		got := a.Seal(nil, nonce[:], pt, aad)
		if !bytes.Equal(got, want) {
			t.Fatalf("Seal differs from x/crypto (len %d, aad %d)", len(pt), len(aad))
		}
		inPlace := append(make([]byte, 0, len(pt)+Overhead), pt...)
		if sealed := a.Seal(inPlace[:0], nonce[:], inPlace, aad); !bytes.Equal(sealed, want) {
			t.Fatal("in-place Seal differs")
		}
		opened, err := a.Open(nil, nonce[:], got, aad)
		if err != nil || !bytes.Equal(opened, pt) {
			t.Fatalf("Open round trip failed: %v", err)
		}
		i := int(flip % uint32(8*len(got)))
		got[i/8] ^= 1 << (i % 8)
		orig := bytes.Clone(got)
		if out, err := a.Open(got[:0], nonce[:], got, aad); err == nil || out != nil {
			t.Fatalf("flipped bit %d accepted", i)
		}
		if !bytes.Equal(got, orig) {
			t.Fatal("failed Open modified the buffer")
		}
		if _, err := ref.Open(nil, nonce[:], got, aad); err == nil {
			t.Fatal("x/crypto accepted the flipped bit")
		}
	})
}
