// SPDX-License-Identifier: MIT

package aead

import (
	"fmt"
	"os"
	"testing"
)

// exhaustive says whether the differential tests run in full (every length
// up to past two 16-block batches, thousands of random cases) or a smaller
// sample: under -short, and under the race detector, which finds nothing
// in this sequential code and makes the full run take minutes instead of
// seconds. scripts/test.sh runs this package without the race detector
// too, so CI runs the full checks.
func exhaustive() bool { return !testing.Short() && !raceEnabled }

// TestMain takes the mode from WGPLEX_AEAD as the daemon does, so that the
// tests can run under each implementation (TestEnvSwitch re-runs this
// binary with each value).
func TestMain(m *testing.M) {
	md, err := ParseMode(os.Getenv("WGPLEX_AEAD"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	SetMode(md)
	os.Exit(m.Run())
}
