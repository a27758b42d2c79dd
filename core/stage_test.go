// SPDX-License-Identifier: MIT

package core_test

import (
	"bytes"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// TestStageLabels checks that every long-lived goroutine of a running
// tunnel carries its stage label, which is what lets a CPU profile of the
// daemon (--cpu-profile) split the data path's cost by stage.
func TestStageLabels(t *testing.T) {
	pair(t, coretest.NewFakeClock(epoch), false)
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	for _, stage := range []string{"device-read", "socket-receive-0", "crypto-worker", "handshake-worker", "device-events"} {
		want := `"` + core.StageLabel + `":` + strconv.Quote(stage)
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("no goroutine labelled %s in the goroutine profile", want)
		}
	}
}
