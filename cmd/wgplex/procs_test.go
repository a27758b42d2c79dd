// SPDX-License-Identifier: MIT

package main

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/wgplex/wgplex/core"
)

func TestChooseProcs(t *testing.T) {
	for _, c := range []struct {
		env   string
		mode  core.CryptoMode
		procs int
		want  int
	}{
		{"", core.CryptoAuto, 2, inlineProcs},
		{"", core.CryptoAuto, 1, 0},  // already one
		{"", core.CryptoAuto, 4, 0},  // parallel mode: keep every CPU
		{"", core.CryptoAuto, 16, 0}, // likewise
		{"2", core.CryptoAuto, 2, 0}, // the operator's GOMAXPROCS wins
		{"", core.CryptoInline, 2, 0},
		{"", core.CryptoParallel, 2, 0},
	} {
		if got := chooseProcs(c.env, c.mode, c.procs); got != c.want {
			t.Errorf("chooseProcs(%q, %v, %d) = %d, want %d", c.env, c.mode, c.procs, got, c.want)
		}
	}
}

func TestProcBoost(t *testing.T) {
	old := runtime.GOMAXPROCS(inlineProcs)
	defer runtime.GOMAXPROCS(old)

	var off procBoost
	off.enter()
	if n := runtime.GOMAXPROCS(0); n != inlineProcs {
		t.Fatalf("an unarmed boost changed GOMAXPROCS to %d", n)
	}
	off.exit()

	var b procBoost
	b.arm()
	b.enter()
	b.enter() // overlapping requests
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Fatalf("GOMAXPROCS = %d during a request, want 2", n)
	}
	b.exit()
	if n := runtime.GOMAXPROCS(0); n != 2 {
		t.Fatalf("GOMAXPROCS = %d while a request is still open, want 2", n)
	}
	b.exit()
	if n := runtime.GOMAXPROCS(0); n != inlineProcs {
		t.Fatalf("GOMAXPROCS = %d after the last request, want %d", n, inlineProcs)
	}
}

func TestBoostedHandlerRunsWithTwoPs(t *testing.T) {
	old := runtime.GOMAXPROCS(inlineProcs)
	defer runtime.GOMAXPROCS(old)
	var b procBoost
	b.arm()

	var during int
	h := b.handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		during = runtime.GOMAXPROCS(0)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/metrics", nil))
	if during != 2 {
		t.Errorf("GOMAXPROCS = %d during a scrape, want 2", during)
	}
	if n := runtime.GOMAXPROCS(0); n != inlineProcs {
		t.Errorf("GOMAXPROCS = %d after the scrape, want %d", n, inlineProcs)
	}
}
