// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Differential tests of sum16, which may be assembly, against the portable
// Go code. They compare bit for bit, not as ones' complement values (see
// finishSum): callers test for 0xffff, and a checksum written to a packet
// must not depend on the machine. refSum in offload_linux_test.go checks
// the Go code against the textbook definition.

// goSum16 is sum16 without the assembly.
func goSum16(b []byte, initial uint16) uint16 {
	return finishSum(sum64Generic(b), initial)
}

func needAsmSum(t testing.TB) {
	t.Helper()
	if !haveAsmSum {
		t.Skip("sum16 is the Go code on this machine; nothing to compare")
	}
}

var sumInitials = []uint16{0, 1, 0x1234, 0x8000, 0xfffe, 0xffff}

// asmSum16 is sum16 with the assembly for any length it takes, also the
// short ones sum16 leaves to the Go code.
func asmSum16(b []byte, initial uint16) uint16 {
	return finishSum(sum64Asm(b), initial)
}

// checkSum compares sum16, and the assembly on its own, with the Go code;
// what and off describe b for the failure message (formatted only then:
// this runs some 100,000 times).
func checkSum(t *testing.T, what string, off int, b []byte, initial uint16) {
	t.Helper()
	want := goSum16(b, initial)
	if got := sum16(b, initial); got != want {
		t.Fatalf("%s at offset %d, len %d, initial %#04x: sum16 = %#04x, Go code %#04x",
			what, off, len(b), initial, got, want)
	}
	if haveAsmSum {
		if got := asmSum16(b, initial); got != want {
			t.Fatalf("%s at offset %d, len %d, initial %#04x: assembly %#04x, Go code %#04x",
				what, off, len(b), initial, got, want)
		}
	}
}

// TestSum16Lengths covers every length that exercises a different mix of
// vector blocks and scalar tail, at every alignment within a 32-byte
// vector load, for random data and for fills at the edges of the
// arithmetic: zero (which must stay 0, not 0xffff), all ones (the most
// carries), and 0x80/0x7f (words either side of the sign bit the
// assembly flips). The initial value rotates with the length rather than
// multiplying the cases: it only enters in finishSum, after the assembly.
func TestSum16Lengths(t *testing.T) {
	needAsmSum(t)
	const maxLen, maxOff = 2048, 31
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, maxLen+maxOff)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	bufs := []struct {
		name string
		b    []byte
		offs []int
	}{
		{"random", random, nil},
		// Alignment changes only which loads cross cache lines, not the
		// arithmetic, so the fills need fewer offsets.
		{"zeros", make([]byte, maxLen+maxOff), []int{0, 1, 16, 31}},
		{"0xff", bytes.Repeat([]byte{0xff}, maxLen+maxOff), []int{0, 1, 16, 31}},
		{"0x80", bytes.Repeat([]byte{0x80}, maxLen+maxOff), []int{0, 1, 16, 31}},
		{"0x7f", bytes.Repeat([]byte{0x7f}, maxLen+maxOff), []int{0, 1, 16, 31}},
	}
	for _, buf := range bufs {
		offs := buf.offs
		if offs == nil {
			for off := 0; off <= maxOff; off++ {
				offs = append(offs, off)
			}
		}
		for _, off := range offs {
			for n := 0; n <= maxLen; n++ {
				initial := sumInitials[(off+n)%len(sumInitials)]
				checkSum(t, buf.name, off, buf.b[off:off+n], initial)
			}
		}
	}
}

// TestSum16OneByte puts a single nonzero byte, at each position, into
// zeros: the sum must come out nonzero with the byte at the right weight.
func TestSum16OneByte(t *testing.T) {
	needAsmSum(t)
	for _, n := range []int{1, 2, 31, 33, 63, 64, 65, 127, 128, 129, 200, 1400} {
		b := make([]byte, n)
		for i := range b {
			for _, v := range []byte{1, 0x80, 0xff} {
				b[i] = v
				checkSum(t, fmt.Sprintf("byte %d = %#02x", i, v), 0, b, 0)
				b[i] = 0
			}
		}
	}
}

// TestSum16Long covers super-packet sizes (64 KiB of payload plus headers)
// and lengths beyond the 1 MiB the assembly takes in one chunk.
func TestSum16Long(t *testing.T) {
	needAsmSum(t)
	rng := rand.New(rand.NewPCG(5, 6))
	lengths := []int{65535, 65536, 65535 + 60, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 17}
	for range 50 {
		lengths = append(lengths, 32768+rng.IntN(65535+60-32768+1))
	}
	for _, n := range lengths {
		b := make([]byte, n+rng.IntN(32))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		off := len(b) - n
		checkSum(t, "random", off, b[off:], sumInitials[n%len(sumInitials)])
		for _, fill := range []byte{0, 0xff, 0x80} {
			for i := range b {
				b[i] = fill
			}
			checkSum(t, fmt.Sprintf("%#02x", fill), off, b[off:], 0xffff)
		}
	}
}

func FuzzSum16(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint16(0))
	f.Add([]byte{0xff}, uint8(0), uint16(0xffff))
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint8(3), uint16(0))
	f.Add(make([]byte, 200), uint8(1), uint16(0))
	f.Add(bytes.Repeat([]byte{0x80, 0x00, 0x7f, 0xff}, 100), uint8(7), uint16(0x8000))
	f.Fuzz(func(t *testing.T, data []byte, off uint8, initial uint16) {
		needAsmSum(t)
		b := data[min(int(off%32), len(data)):]
		checkSum(t, "fuzz", int(off%32), b, initial)
	})
}

var sumSink uint16

// BenchmarkSum16 times the Go code, the assembly on its own, and sum16,
// which picks one of them by length.
func BenchmarkSum16(b *testing.B) {
	impls := []struct {
		name string
		sum  func([]byte, uint16) uint16
		asm  bool
	}{
		{"go", goSum16, false},
		{"asm", asmSum16, true},
		{"sum16", sum16, false},
	}
	for _, impl := range impls {
		for _, n := range []int{40, 128, 1400, 65535} {
			b.Run(fmt.Sprintf("%s/%d", impl.name, n), func(b *testing.B) {
				if impl.asm {
					needAsmSum(b)
				}
				buf := make([]byte, n)
				for i := range buf {
					buf[i] = byte(i * 7)
				}
				b.SetBytes(int64(n))
				for b.Loop() {
					sumSink = impl.sum(buf, 0)
				}
			})
		}
	}
}
