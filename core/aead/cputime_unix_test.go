// SPDX-License-Identifier: MIT

//go:build unix

package aead

import (
	"syscall"
	"time"
)

// processCPU is the user plus system CPU time the process has used. On a
// shared machine it is a steadier measure of a benchmark's own work than
// wall time, which counts the time other processes held the CPU.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
