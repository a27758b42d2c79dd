// SPDX-License-Identifier: MIT

package main

import (
	"net/http"
	"runtime"
	"sync"

	"github.com/wgplex/wgplex/core"
)

// inlineProcs is the GOMAXPROCS the daemon runs with when it picks the
// inline crypto mode on its own. Go's scheduler, given a second P, spins up
// and parks a second thread every time a socket or the device becomes
// readable; in inline mode that thread has no crypto to run, so its wake-ups
// are pure cost, and on a two-CPU machine it takes cycles from the kernel's
// network stack and the applications instead. With one P, the device reader
// and the socket receiver take turns on one thread. Measured on two vCPUs
// (README, Performance): 9-14 % less CPU per byte and 9-24 % more TCP in
// same-run comparisons; on dedicated cores of a 16-core machine (one P on
// one core against two on two) about 5 % less CPU per byte for 3-8 % less
// throughput.
const inlineProcs = 1

// chooseProcs returns the GOMAXPROCS to set before the tunnel starts, or 0
// to leave the runtime's own choice. Only when nothing was asked for: no
// GOMAXPROCS in the environment (explicit is kept, so GOMAXPROCS=2 undoes
// this) and the crypto mode left to auto, on a process whose Ps would get
// the inline mode anyway (core's rule, CryptoMode.Resolve) and has more
// than one. procs is runtime.GOMAXPROCS(0).
func chooseProcs(envGOMAXPROCS string, mode core.CryptoMode, procs int) int {
	if envGOMAXPROCS != "" || mode != core.CryptoAuto || procs <= inlineProcs ||
		mode.Resolve(procs) != core.CryptoInline {
		return 0
	}
	return inlineProcs
}

// applyProcs sets GOMAXPROCS as chooseProcs says, and arms daemonProcs
// when that was one P.
func applyProcs(envGOMAXPROCS string, mode core.CryptoMode) {
	if n := chooseProcs(envGOMAXPROCS, mode, runtime.GOMAXPROCS(0)); n > 0 {
		runtime.GOMAXPROCS(n)
		daemonProcs.arm()
	}
}

// procBoost gives the runtime a second P while a UAPI request is parsed,
// applied or written out (uapi.RequestHooks), while discovery applies a
// change or reads the tunnel out, and while /metrics is scraped, when the
// daemon runs with the one-P default. With one P, a half-second `wg addconf` of 100,000
// peers held a ping through the daemon for up to 50 ms: the data path's
// goroutines wait for the runtime's 10 ms network poll and then for the
// busy goroutine's preemption, once per hop. With two Ps, 10-20 ms, as
// before the default. Requests may overlap, so the second P stays until
// the last one ends. Changing GOMAXPROCS stops the world for some
// microseconds, twice per request.
type procBoost struct {
	mu sync.Mutex
	on bool // set once at start-up: the daemon chose one P
	n  int
}

// daemonProcs is the daemon's boost; applyProcs arms it.
var daemonProcs procBoost

// arm makes enter and exit act: the process runs with one P.
func (b *procBoost) arm() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.on = true
}

// enter raises GOMAXPROCS to 2 for the first request in flight.
func (b *procBoost) enter() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return
	}
	if b.n == 0 {
		runtime.GOMAXPROCS(2)
	}
	b.n++
}

// exit lowers it back to 1 when the last request in flight ends.
func (b *procBoost) exit() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.on {
		return
	}
	b.n--
	if b.n == 0 {
		runtime.GOMAXPROCS(inlineProcs)
	}
}

// boostedTunnel is the tunnel as discovery drives it: each change set it
// applies and each read-out it takes runs with b's second P, as a UAPI
// request does.
type boostedTunnel struct {
	*core.Tunnel
	b *procBoost
}

// Apply implements plugins.DiscoveryTunnel.
func (t boostedTunnel) Apply(c core.Config) error {
	t.b.enter()
	defer t.b.exit()
	return t.Tunnel.Apply(c)
}

// Snapshot implements plugins.DiscoveryTunnel.
func (t boostedTunnel) Snapshot() core.Snapshot {
	t.b.enter()
	defer t.b.exit()
	return t.Tunnel.Snapshot()
}

// handler serves each HTTP request (a Prometheus scrape, which at 100,000
// peers renders as long as a `wg show`) with a second P.
func (b *procBoost) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.enter()
		defer b.exit()
		h.ServeHTTP(w, r)
	})
}
