// SPDX-License-Identifier: MIT

//go:build unix

package core_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user plus system CPU time the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
