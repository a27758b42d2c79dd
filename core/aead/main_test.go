// SPDX-License-Identifier: MIT

package aead

import (
	"fmt"
	"os"
	"testing"
)

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
