// SPDX-License-Identifier: MIT

package replay

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rejectAfter mirrors REJECT_AFTER_MESSAGES (2^64 - 2^13 - 1), the limit the
// engine passes.
const rejectAfter = math.MaxUint64 - (1 << 13)

type step struct {
	counter uint64
	want    bool
}

func run(t *testing.T, f *Filter, limit uint64, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := f.Validate(s.counter, limit); got != s.want {
			t.Fatalf("step %d: Validate(%d) = %v, want %v", i, s.counter, got, s.want)
		}
	}
}

func TestInOrder(t *testing.T) {
	var f Filter
	for c := uint64(0); c < 3*WindowSize; c++ {
		if !f.Validate(c, rejectAfter) {
			t.Fatalf("in-order counter %d rejected", c)
		}
	}
}

func TestDuplicate(t *testing.T) {
	var f Filter
	run(t, &f, rejectAfter, []step{
		{0, true}, {0, false},
		{1, true}, {1, false}, {0, false},
		{100, true}, {100, false}, {50, true}, {50, false},
	})
}

func TestReorderedWithinWindow(t *testing.T) {
	var f Filter
	run(t, &f, rejectAfter, []step{
		{10, true}, {5, true}, {7, true}, {6, true}, {9, true}, {8, true},
		{11, true}, {0, true}, {1, true}, {5, false}, {10, false},
		{WindowSize + 2, true}, {3, true}, {2, true}, {1, false},
	})
}

func TestWindowEdge(t *testing.T) {
	const top = 3*WindowSize + 17 // not block aligned on purpose
	var f Filter
	run(t, &f, rejectAfter, []step{
		{top, true},
		{top - WindowSize - 1, false}, // just outside
		{top - WindowSize, true},      // exactly at the edge
		{top - WindowSize, false},
		{top - WindowSize + 1, true},
		{top - 1, true},
		{0, false},
	})
}

func TestWindowEdgeAligned(t *testing.T) {
	// With the highest counter at the start of a block, the edge falls at
	// the start of the oldest kept block.
	const top = 4 * WindowSize
	var f Filter
	run(t, &f, rejectAfter, []step{
		{top, true},
		{top - WindowSize, true},
		{top - WindowSize - 1, false},
		{top - WindowSize + blockBits - 1, true},
	})
}

func TestBigJumpClears(t *testing.T) {
	var f Filter
	// Fill a whole window, then jump so far that every old counter leaves
	// the window: the bits they left in the ring slots the new window reuses
	// must be gone. Each jump clears the previous window; they land on and off
	// ring multiples.
	for c := uint64(0); c <= WindowSize; c++ {
		f.Validate(c, rejectAfter)
	}
	ring := uint64(ringBlocks * blockBits)
	for _, base := range []uint64{2*WindowSize + 1, 4 * ring, 8 * ring, 9*ring + 3*blockBits + 1} {
		if !f.Validate(base, rejectAfter) {
			t.Fatalf("jump to %d rejected", base)
		}
		for c := base - WindowSize; c < base; c++ {
			if !f.Validate(c, rejectAfter) {
				t.Fatalf("after jump to %d, counter %d (aliases an old one) rejected", base, c)
			}
		}
	}
	// A jump of less than a full ring clears only the blocks it crosses.
	var g Filter
	for c := uint64(0); c < 10*blockBits; c++ {
		g.Validate(c, rejectAfter)
	}
	next := uint64(10*blockBits + 3*blockBits + 5)
	run(t, &g, rejectAfter, []step{
		{next, true},
		{10*blockBits - 1, false}, // seen before the jump, still in window
		{10 * blockBits, true},    // crossed block, cleared
		{next - 1, true},
	})
}

func TestLimit(t *testing.T) {
	var f Filter
	run(t, &f, rejectAfter, []step{
		{rejectAfter, false},
		{rejectAfter + 1, false},
		{math.MaxUint64, false},
		{rejectAfter - 1, true},
		{rejectAfter - 1, false},
		{rejectAfter - 2, true},
		{rejectAfter, false},
	})
	var g Filter
	run(t, &g, 10, []step{{9, true}, {10, false}, {0, true}})
	// Without a protective limit the top counter still works without
	// overflowing the block arithmetic.
	var h Filter
	run(t, &h, math.MaxUint64, []step{
		{math.MaxUint64 - 1, true},
		{math.MaxUint64 - 1 - WindowSize, true},
		{math.MaxUint64 - 2 - WindowSize, false},
	})
}

func TestReset(t *testing.T) {
	var f Filter
	run(t, &f, rejectAfter, []step{{1000, true}, {1000, false}, {1000 + 2*WindowSize, true}, {1000, false}})
	f.Reset()
	run(t, &f, rejectAfter, []step{{1000, true}, {1000, false}, {1, true}})
}

// reference is the slow, obviously right model Filter is checked against.
type reference struct {
	seen map[uint64]bool
	max  uint64
	any  bool
}

func (r *reference) validate(c, limit uint64) bool {
	if c >= limit || r.seen[c] {
		return false
	}
	if r.any && c < r.max && r.max-c > WindowSize {
		return false
	}
	r.seen[c] = true
	if !r.any || c > r.max {
		r.max, r.any = c, true
	}
	return true
}

// newReference starts with nothing seen, matching a zero Filter: no counter
// below the limit is too old until something has been accepted.
func newReference() *reference { return &reference{seen: map[uint64]bool{}} }

func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var f Filter
		r := newReference()
		limit := uint64(rejectAfter)
		var base uint64
		if round%4 == 3 {
			base = rejectAfter - 3*WindowSize // exercise the limit
		}
		cur := base
		for i := 0; i < 3000; i++ {
			var c uint64
			switch rng.IntN(6) {
			case 0: // small step forward
				cur += uint64(rng.IntN(4))
				c = cur
			case 1: // big jump forward
				cur += uint64(rng.IntN(4 * WindowSize))
				c = cur
			case 2: // near the window edge
				c = cur - WindowSize - 2 + uint64(rng.IntN(5))
			default: // anywhere in or just below the window
				c = cur - uint64(rng.IntN(WindowSize+100))
			}
			if c < base && cur >= base {
				c = base + uint64(rng.IntN(8))
			}
			want := r.validate(c, limit)
			if got := f.Validate(c, limit); got != want {
				t.Fatalf("round %d step %d: Validate(%d) = %v, reference says %v (max %d)", round, i, c, got, want, r.max)
			}
		}
	}
}

func FuzzValidate(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, uint64(rejectAfter))
	f.Add([]byte{200, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, uint64(10))
	f.Fuzz(func(t *testing.T, data []byte, limit uint64) {
		// Each 2-byte chunk is a signed delta from the running counter,
		// scaled so that jumps can cross the window.
		var flt Filter
		r := newReference()
		var cur uint64
		for i := 0; i+1 < len(data); i += 2 {
			d := int64(int8(data[i]))*int64(data[i+1]) + int64(data[i+1]&7)
			cur += uint64(d)
			if got, want := flt.Validate(cur, limit), r.validate(cur, limit); got != want {
				t.Fatalf("Validate(%d, %d) = %v, reference says %v", cur, limit, got, want)
			}
		}
	})
}

func BenchmarkValidateInOrder(b *testing.B) {
	var f Filter
	b.ReportAllocs()
	var c uint64
	for b.Loop() {
		f.Validate(c, rejectAfter)
		c++
	}
}

func BenchmarkValidateReordered(b *testing.B) {
	var f Filter
	b.ReportAllocs()
	var c uint64
	for b.Loop() {
		// Pairs arrive swapped: 1, 0, 3, 2, ...
		f.Validate(c^1, rejectAfter)
		c++
	}
}
