// SPDX-License-Identifier: MIT

package coldbench

import (
	"flag"
	"testing"
)

func TestEvictTouchesEveryLine(t *testing.T) {
	Evict()
	Evict()
	if len(evictBuf) != evictSize {
		t.Fatalf("eviction buffer %d bytes, want %d", len(evictBuf), evictSize)
	}
	for i := 0; i < len(evictBuf); i += 64 {
		if evictBuf[i] != 2 {
			t.Fatalf("byte %d written %d times, want 2", i, evictBuf[i])
		}
	}
}

func TestCountedRuns(t *testing.T) {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		t.Skip("no -test.benchtime flag in this binary")
	}
	old := f.Value.String()
	defer f.Value.Set(old)
	for _, c := range []struct {
		v    string
		want bool
	}{{"1s", false}, {"2000x", true}, {"100ms", false}, {"1x", true}} {
		if err := f.Value.Set(c.v); err != nil {
			t.Fatal(err)
		}
		if got := countedRuns(); got != c.want {
			t.Errorf("-benchtime %s: counted %v, want %v", c.v, got, c.want)
		}
	}
}

// BenchmarkLoop runs op exactly b.N times, hot or cold.
func BenchmarkLoop(b *testing.B) {
	for _, cold := range []bool{false, true} {
		name := "hot"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			runs := 0
			Loop(b, cold, func() { runs++ })
			if runs != b.N {
				b.Fatalf("op ran %d times for b.N %d", runs, b.N)
			}
		})
	}
}
