// SPDX-License-Identifier: MIT

// Package coldbench runs benchmarks of one operation with the caches of the
// core emptied before each run, as a packet finds them after an idle spell
// (a ping 10 ms after the last): what such an operation costs is mostly the
// memory it touches, which a hot benchmark loop never shows.
package coldbench

import (
	"flag"
	"strings"
	"testing"
)

// evictSize is written over before each cold run: eight times the 2 MiB L2
// of a current server core, so L1 and L2 hold none of the operation's data
// afterwards. It does not empty a shared last-level cache of tens of MiB;
// walking that much per run would cost more than the runs themselves.
const evictSize = 16 << 20

// evictBuf is made on first use, so test binaries that never run a cold
// benchmark do not carry it.
var evictBuf []byte

// Evict displaces the core's caches.
func Evict() {
	if evictBuf == nil {
		evictBuf = make([]byte, evictSize)
	}
	for i := 0; i < len(evictBuf); i += 64 {
		evictBuf[i]++
	}
}

// Loop runs op b.N times after the caller's setup; with cold, the caches
// are emptied (Evict, outside the timer) before each run.
//
// The testing package sizes b.N from the timed part alone, so with a time
// -benchtime (the default 1s) a cold benchmark of a microsecond operation
// runs hundreds of thousands of times, each after an eviction of
// milliseconds: minutes. A cold run therefore needs an iteration count
// (-benchtime 2000x) and is skipped, saying so, without one.
func Loop(b *testing.B, cold bool, op func()) {
	b.Helper()
	if cold && !countedRuns() {
		b.Skip("cold benchmark: give an iteration count, e.g. -benchtime 2000x (each run empties the caches outside the timer, which a timed -benchtime does not see)")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if cold {
			b.StopTimer()
			Evict()
			b.StartTimer()
		}
		op()
	}
}

// countedRuns reports whether -benchtime is an iteration count ("2000x").
func countedRuns() bool {
	f := flag.Lookup("test.benchtime")
	return f != nil && strings.HasSuffix(f.Value.String(), "x")
}
