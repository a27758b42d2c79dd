// SPDX-License-Identifier: MIT

package core_test

import (
	"bytes"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// TestStageLabels checks that every long-lived goroutine of a running
// tunnel carries its stage label, which is what lets a CPU profile of the
// daemon (--cpu-profile) split the data path's cost by stage. A goroutine
// labels itself when it first runs, so the test waits for that.
func TestStageLabels(t *testing.T) {
	pair(t, coretest.NewFakeClock(epoch), false)
	stages := []string{"device-read", "socket-receive-0", "crypto-worker", "handshake-worker", "device-events"}
	// Polled with a deadline rather than waitFor, so that a failure names
	// the labels that never showed.
	var missing string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		var buf bytes.Buffer
		if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
			t.Fatal(err)
		}
		missing = ""
		for _, stage := range stages {
			want := `"` + core.StageLabel + `":` + strconv.Quote(stage)
			if !bytes.Contains(buf.Bytes(), []byte(want)) {
				missing += " " + want
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s, no goroutine labelled%s", missing)
		}
	}
}
