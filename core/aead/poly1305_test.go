// SPDX-License-Identifier: MIT

package aead

import (
	"bytes"
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"testing"

	"golang.org/x/crypto/poly1305"
)

// polyModes are the two ways poly can run: scalar Go only, and with the IFMA
// code for whole groups of eight blocks (skipped where it is unavailable).
var polyModes = []struct {
	name   string
	vector bool
}{{"scalar", false}, {"ifma", true}}

func requireIFMA(t testing.TB) {
	t.Helper()
	if !haveIFMA {
		t.Skip("IFMA Poly1305 unavailable: not amd64, purego build, or CPU/OS lacks AVX512F+IFMA")
	}
}

// polyTag computes the Poly1305 tag of msg with our code.
func polyTag(key *[32]byte, msg []byte, vector bool) [16]byte {
	var p poly
	var tag [16]byte
	p.init(key, vector)
	p.sum(msg, &tag)
	return tag
}

// checkPoly compares our tag (in the given mode) with x/crypto's, also
// feeding the message in pieces so that scalar and vector runs alternate and
// the accumulator crosses between representations several times.
func checkPoly(t *testing.T, key *[32]byte, msg []byte, vector bool, rng *rand.Rand) {
	t.Helper()
	var want [16]byte
	poly1305.Sum(&want, msg, key)
	if got := polyTag(key, msg, vector); got != want {
		t.Fatalf("len %d key %x: tag %x, x/crypto %x", len(msg), key, got, want)
	}
	if rng == nil {
		return
	}
	var p poly
	var got [16]byte
	p.init(key, vector)
	rest := msg
	for len(rest) >= 16 {
		n := 16 * (1 + rng.IntN(min(len(rest)/16, 20)))
		p.blocks(rest[:n])
		rest = rest[n:]
	}
	p.sum(rest, &got)
	if got != want {
		t.Fatalf("len %d key %x, split: tag %x, x/crypto %x", len(msg), key, got, want)
	}
}

func randKey(rng *rand.Rand) *[32]byte {
	var k [32]byte
	fillRand(rng, k[:])
	return &k
}

func TestPoly1305Vectors(t *testing.T) {
	// RFC 8439 §2.5.2.
	key := (*[32]byte)(unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"))
	msg := []byte("Cryptographic Forum Research Group")
	want := unhex("a8061dc1305136c6c22b8baf0c0127a9")
	for _, m := range polyModes {
		if got := polyTag(key, msg, m.vector); !bytes.Equal(got[:], want) {
			t.Errorf("%s: %x, want %x", m.name, got, want)
		}
	}
}

func TestPoly1305Differential(t *testing.T) {
	for _, m := range polyModes {
		t.Run(m.name, func(t *testing.T) {
			if m.vector {
				requireIFMA(t)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, 1<<16)
			fillRand(rng, buf)
			for n := 0; n <= 1100; n++ {
				checkPoly(t, randKey(rng), buf[:n], m.vector, rng)
			}
			rounds := 300
			if !exhaustive() {
				rounds = 30
			}
			for range rounds {
				n := rng.IntN(len(buf) + 1)
				checkPoly(t, randKey(rng), buf[:n], m.vector, rng)
			}
		})
	}
}

// TestPoly1305Adversarial uses the keys and messages that push the limbs to
// their largest values: r with every bit the clamp allows, s all ones,
// messages of all ones (each block the largest possible), all zeros, and
// mixes, at lengths around the vector code's group boundaries.
func TestPoly1305Adversarial(t *testing.T) {
	var keys []*[32]byte
	maxR := [32]byte{}
	for i := range maxR {
		maxR[i] = 0xff // clamping leaves r = 0x0ffffffc0ffffffc0ffffffc0fffffff
	}
	keys = append(keys, &maxR)
	k2 := maxR
	clear(k2[16:]) // s = 0
	keys = append(keys, &k2)
	k3 := [32]byte{}
	for i := 16; i < 32; i++ {
		k3[i] = 0xff // r = 0, s all ones
	}
	keys = append(keys, &k3)
	k4 := maxR
	k4[0] = 1 // r small
	clear(k4[1:16])
	keys = append(keys, &k4)
	keys = append(keys, &[32]byte{})

	ones := bytes.Repeat([]byte{0xff}, 4096)
	zeros := make([]byte, 4096)
	alt := make([]byte, 4096)
	for i := range alt {
		if i/16%2 == 0 {
			alt[i] = 0xff
		}
	}
	lengths := []int{0, 1, 15, 16, 17, 127, 128, 129, 143, 144, 255, 256, 257, 1024, 1040, 1420, 4095, 4096}
	for _, m := range polyModes {
		t.Run(m.name, func(t *testing.T) {
			if m.vector {
				requireIFMA(t)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			for _, key := range keys {
				for _, msg := range [][]byte{ones, zeros, alt} {
					for _, n := range lengths {
						checkPoly(t, key, msg[:n], m.vector, rng)
					}
				}
			}
		})
	}
}

var bigP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 130), big.NewInt(5))

func toBig(h0, h1, h2 uint64) *big.Int {
	x := new(big.Int).SetUint64(h2)
	x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(h1))
	return x.Lsh(x, 64).Or(x, new(big.Int).SetUint64(h0))
}

func fromBig(x *big.Int) (h0, h1, h2 uint64) {
	var b [24]byte
	x.FillBytes(b[:])
	return binary.BigEndian.Uint64(b[16:]), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint64(b[:])
}

// TestMulr checks the scalar multiplication h*r mod p against math/big for
// random and extreme h (up to its limit 2^131-1) and clamped r (up to all
// clamp-permitted bits set), including that the result keeps h2 <= 4.
func TestMulr(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	maxH := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 131), big.NewInt(1))
	hs := []*big.Int{big.NewInt(0), big.NewInt(1), maxH, new(big.Int).Sub(bigP, big.NewInt(1)), bigP,
		new(big.Int).Add(bigP, big.NewInt(1)), new(big.Int).Lsh(big.NewInt(1), 130), new(big.Int).Lsh(big.NewInt(1), 128)}
	rs := [][2]uint64{{0, 0}, {1, 0}, {0x0ffffffc0fffffff, 0x0ffffffc0ffffffc}, {0x0ffffffc0fffffff, 0}, {0, 0x0ffffffc0ffffffc}}
	random := 20000
	if !exhaustive() {
		random = 2000
	}
	for range random {
		h := randBelow(rng, new(big.Int).Add(maxH, big.NewInt(1)))
		hs = append(hs, h)
		rs = append(rs, [2]uint64{rng.Uint64() & 0x0ffffffc0fffffff, rng.Uint64() & 0x0ffffffc0ffffffc})
	}
	for i, h := range hs {
		for j, r := range rs {
			if i >= 8 && j >= 5 && i-8 != j-5 {
				continue // random h with its own random r only
			}
			h0, h1, h2 := fromBig(h)
			g0, g1, g2 := mulr(h0, h1, h2, r[0], r[1])
			if g2 > 4 {
				t.Fatalf("h=%x r=%x: h2 = %d", h, r, g2)
			}
			want := new(big.Int).Mul(h, toBig(r[0], r[1], 0))
			want.Mod(want, bigP)
			if got := new(big.Int).Mod(toBig(g0, g1, g2), bigP); got.Cmp(want) != 0 {
				t.Fatalf("h=%x r=%x: %x, want %x", h, r, got, want)
			}
		}
	}
}

// TestPowers checks r^1..r^8 as the vector code computes them (limbs, the
// 20x multiples, and the bounds the assembly's proof assumes for
// multipliers) against math/big, for edge and random keys.
func TestPowers(t *testing.T) {
	requireIFMA(t)
	rng := rand.New(rand.NewPCG(7, 8))
	keys := []*[32]byte{{}, {1}}
	maxR := [32]byte{}
	for i := range maxR {
		maxR[i] = 0xff
	}
	keys = append(keys, &maxR)
	for range 5000 {
		keys = append(keys, randKey(rng))
	}
	for _, key := range keys {
		var p poly
		p.init(key, true)
		var tab [10][8]uint64
		l0, l1, l2 := to44(p.r[0], p.r[1], 0)
		polyPowersVec(&tab, l0, l1, l2)
		fin, r8tab := (*[5][8]uint64)(tab[0:5]), (*[5][8]uint64)(tab[5:10])
		r := toBig(p.r[0], p.r[1], 0)
		limbs := func(t *[5][8]uint64, j int) *big.Int {
			if t[3][j] != 20*t[1][j] || t[4][j] != 20*t[2][j] {
				panic("bad 20x limbs")
			}
			if t[0][j] >= 1<<44 || t[1][j] >= 1<<44+1<<14 || t[2][j] >= 1<<42+1<<10 {
				panic("limb out of range")
			}
			x := new(big.Int).SetUint64(t[2][j])
			x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(t[1][j]))
			x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(t[0][j]))
			return x.Mod(x, bigP)
		}
		r8 := new(big.Int).Exp(r, big.NewInt(8), bigP)
		for j := range 8 {
			want := new(big.Int).Exp(r, big.NewInt(int64(8-j)), bigP)
			if got := limbs(fin, j); got.Cmp(want) != 0 {
				t.Fatalf("r=%x: r^%d = %x, want %x", r, 8-j, got, want)
			}
			if got := limbs(r8tab, j); got.Cmp(r8) != 0 {
				t.Fatalf("r=%x: r^8 lane %d = %x, want %x", r, j, got, r8)
			}
		}
	}
}

// TestReduceFull checks the final reduction at and around p and at the
// largest values it may be given (h2 <= 4, and anything below 2p).
func TestReduceFull(t *testing.T) {
	two130 := new(big.Int).Lsh(big.NewInt(1), 130)
	var in []*big.Int
	for _, d := range []int64{-2, -1, 0, 1, 2, 4, 5, 6} {
		in = append(in, new(big.Int).Add(bigP, big.NewInt(d)))                        // around p
		in = append(in, new(big.Int).Add(two130, big.NewInt(d)))                      // 2^130 + k
		in = append(in, new(big.Int).Add(new(big.Int).Lsh(bigP, 1), big.NewInt(d-1))) // around 2p-1
	}
	in = append(in, big.NewInt(0), big.NewInt(5),
		new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(5), 128), big.NewInt(1)), // h2 = 4, all ones below
		new(big.Int).Sub(two130, big.NewInt(1)))
	twoP := new(big.Int).Lsh(bigP, 1)
	rng := rand.New(rand.NewPCG(9, 10))
	for range 10000 {
		in = append(in, randBelow(rng, twoP))
	}
	for _, x := range in {
		if x.Sign() < 0 || x.Cmp(twoP) >= 0 {
			continue // outside the contract
		}
		h0, h1, h2 := fromBig(x)
		g0, g1, g2 := reduceFull(h0, h1, h2)
		got := toBig(g0, g1, g2)
		if want := new(big.Int).Mod(x, bigP); got.Cmp(want) != 0 {
			t.Errorf("reduceFull(%x) = %x, want %x", x, got, want)
		}
	}
}

// TestReduce3 and TestCombineLanes check the hand-over from the vector code:
// the sum of eight lanes at the largest limbs the assembly can return
// (2^44-1, 2^44+2^14-1, 2^42+2^10-1), random lanes within those bounds, and
// random three-word values for reduce3, all against math/big, and that the
// result satisfies the scalar invariant h2 <= 4.
func TestCombineLanes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	bounds := [3]uint64{1 << 44, 1<<44 + 1<<14, 1<<42 + 1<<10}
	check := func(v *[3][8]uint64) {
		t.Helper()
		want := new(big.Int)
		for j := range 8 {
			x := new(big.Int).SetUint64(v[2][j])
			x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(v[1][j]))
			x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(v[0][j]))
			want.Add(want, x)
		}
		want.Mod(want, bigP)
		h0, h1, h2 := combineLanes(v)
		if h2 > 4 {
			t.Fatalf("%x: h2 = %d", v, h2)
		}
		if got := new(big.Int).Mod(toBig(h0, h1, h2), bigP); got.Cmp(want) != 0 {
			t.Fatalf("%x: %x, want %x", v, got, want)
		}
	}
	var v [3][8]uint64
	for k := range 3 {
		for j := range 8 {
			v[k][j] = bounds[k] - 1
		}
	}
	check(&v)
	for range 20000 {
		for k := range 3 {
			for j := range 8 {
				switch rng.IntN(4) {
				case 0:
					v[k][j] = bounds[k] - 1
				case 1:
					v[k][j] = 0
				default:
					v[k][j] = rng.Uint64N(bounds[k])
				}
			}
		}
		check(&v)
	}
	for range 20000 {
		w0, w1, w2 := rng.Uint64(), rng.Uint64(), rng.Uint64N(1<<62)
		if rng.IntN(4) == 0 {
			w0, w1, w2 = ^uint64(0), ^uint64(0), 1<<62-1
		}
		g0, g1, g2 := reduce3(w0, w1, w2)
		if g2 > 4 {
			t.Fatalf("reduce3(%x %x %x): h2 = %d", w2, w1, w0, g2)
		}
		want := new(big.Int).Mod(toBig(w0, w1, w2), bigP)
		if got := new(big.Int).Mod(toBig(g0, g1, g2), bigP); got.Cmp(want) != 0 {
			t.Fatalf("reduce3(%x %x %x) = %x, want %x", w2, w1, w0, got, want)
		}
	}
}

// TestTo44 checks the exact split into radix 2^44 for values up to h2 = 7.
func TestTo44(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for i := range 10000 {
		h0, h1, h2 := rng.Uint64(), rng.Uint64(), rng.Uint64N(8)
		if i == 0 {
			h0, h1, h2 = ^uint64(0), ^uint64(0), 7
		}
		l0, l1, l2 := to44(h0, h1, h2)
		if l0 >= 1<<44 || l1 >= 1<<44 || l2 >= 1<<43 {
			t.Fatalf("to44 limbs out of range: %x %x %x", l0, l1, l2)
		}
		x := new(big.Int).SetUint64(l2)
		x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(l1))
		x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(l0))
		if x.Cmp(toBig(h0, h1, h2)) != 0 {
			t.Fatalf("to44(%x %x %x) = %x", h2, h1, h0, x)
		}
	}
}

// TestPolyVectorMaxLanes drives the assembly directly with the incoming
// accumulator (lane 0) at the largest limbs to44 can produce (2^44-1,
// 2^44-1, 2^43-1) or random, blocks of all ones or random, the largest r or
// random ones, and one to four groups, and checks every lane against
// math/big, plus the output bounds combineLanes relies on.
func TestPolyVectorMaxLanes(t *testing.T) {
	requireIFMA(t)
	rng := rand.New(rand.NewPCG(15, 16))
	maxR := [32]byte{}
	for i := range maxR {
		maxR[i] = 0xff
	}
	msgOnes := bytes.Repeat([]byte{0xff}, 128*4)
	for iter := range 4000 {
		key := &maxR
		if iter%4 >= 2 {
			key = randKey(rng)
		}
		var p poly
		p.init(key, true)
		in := [3]uint64{1<<44 - 1, 1<<44 - 1, 1<<43 - 1}
		if iter%2 == 1 {
			for k := range in {
				in[k] = rng.Uint64N(in[k] + 1)
			}
		}
		msg := msgOnes
		if iter%3 == 2 {
			msg = make([]byte, len(msgOnes))
			fillRand(rng, msg)
		}
		groups := 1 + iter%4
		r := toBig(p.r[0], p.r[1], 0)
		r8 := new(big.Int).Exp(r, big.NewInt(8), bigP)
		want := make([]*big.Int, 8)
		for j := range 8 {
			x := new(big.Int)
			if j == 0 {
				x.SetUint64(in[2])
				x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(in[1]))
				x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(in[0]))
			}
			for g := range groups {
				b := msg[128*g+16*j : 128*g+16*j+16]
				x.Add(x, toBig(binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), 1))
				if g < groups-1 {
					x.Mul(x, r8)
				} else {
					x.Mul(x, new(big.Int).Exp(r, big.NewInt(int64(8-j)), bigP))
				}
				x.Mod(x, bigP)
			}
			want[j] = x
		}
		var lanes [3][8]uint64
		r0, r1, r2 := to44(p.r[0], p.r[1], 0)
		polyBlocksVec(&lanes, msg[:128*groups], in[0], in[1], in[2], r0, r1, r2)
		for j := range 8 {
			l0, l1, l2 := lanes[0][j], lanes[1][j], lanes[2][j]
			if l0 >= 1<<44 || l1 >= 1<<44+1<<14 || l2 >= 1<<42+1<<10 {
				t.Fatalf("lane %d out of bounds: %x %x %x", j, l0, l1, l2)
			}
			x := new(big.Int).SetUint64(l2)
			x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(l1))
			x.Lsh(x, 44).Add(x, new(big.Int).SetUint64(l0))
			x.Mod(x, bigP)
			if x.Cmp(want[j]) != 0 {
				t.Fatalf("iter %d lane %d: %x, want %x", iter, j, x, want[j])
			}
		}
	}
}

// randBelow returns a random number in [0, max), not exactly uniform, which
// is fine for tests.
func randBelow(rng *rand.Rand, max *big.Int) *big.Int {
	b := make([]byte, len(max.Bytes())+8)
	fillRand(rng, b)
	return new(big.Int).Mod(new(big.Int).SetBytes(b), max)
}

// FuzzPoly1305 compares both modes with x/crypto on arbitrary keys and
// messages.
func FuzzPoly1305(f *testing.F) {
	f.Add(make([]byte, 32), []byte("message"))
	f.Add(bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte{0xff}, 300))
	f.Add([]byte{1}, make([]byte, 1420))
	f.Fuzz(func(t *testing.T, keySeed, msg []byte) {
		var key [32]byte
		copy(key[:], keySeed)
		var want [16]byte
		poly1305.Sum(&want, msg, &key)
		for _, m := range polyModes {
			if m.vector && !haveIFMA {
				continue
			}
			if got := polyTag(&key, msg, m.vector); got != want {
				t.Fatalf("%s: len %d: %x, x/crypto %x", m.name, len(msg), got, want)
			}
		}
	})
}
