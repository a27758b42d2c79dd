// SPDX-License-Identifier: MIT

//go:build !unix

package core_test

import (
	"testing"
	"time"
)

// cpuTime is not measured on systems without getrusage; the flood
// benchmarks need it, so they skip there.
func cpuTime(tb testing.TB) time.Duration {
	tb.Skip("process CPU time is not measured on this system")
	return 0
}
