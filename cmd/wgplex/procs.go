// SPDX-License-Identifier: MIT

package main

import (
	"runtime"

	"github.com/wgplex/wgplex/core"
)

// inlineProcs is the GOMAXPROCS the daemon runs with when it picks the
// inline crypto mode on its own. Go's scheduler, given a second P, spins up
// and parks a second thread every time a socket or the device becomes
// readable; in inline mode that thread has no crypto to run, so its wake-ups
// are pure cost, and on a two-CPU machine it takes cycles from the kernel's
// network stack and the applications instead. With one P, the device reader
// and the socket receiver take turns on one thread. Measured on two vCPUs
// (README, Performance): 13 % less CPU per byte and 19 % more throughput on
// one TCP stream; on two dedicated cores of a 16-core machine, 4 % less CPU
// per byte for 3 % less throughput, within that run's spread.
const inlineProcs = 1

// chooseProcs returns the GOMAXPROCS to set before the tunnel starts, or 0
// to leave the runtime's own choice. Only when nothing was asked for: no
// GOMAXPROCS in the environment (explicit is kept, so GOMAXPROCS=2 undoes
// this) and the crypto mode left to auto, on a process that would get two
// Ps and so the inline mode anyway. procs is runtime.GOMAXPROCS(0).
func chooseProcs(envGOMAXPROCS string, mode core.CryptoMode, procs int) int {
	if envGOMAXPROCS != "" || mode != core.CryptoAuto || procs != 2 {
		return 0
	}
	return inlineProcs
}

// applyProcs sets GOMAXPROCS as chooseProcs says.
func applyProcs(envGOMAXPROCS string, mode core.CryptoMode) {
	if n := chooseProcs(envGOMAXPROCS, mode, runtime.GOMAXPROCS(0)); n > 0 {
		runtime.GOMAXPROCS(n)
	}
}
