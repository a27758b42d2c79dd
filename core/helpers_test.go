// SPDX-License-Identifier: MIT

package core_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// Short names for the shared test helpers of core/coretest.
type node = coretest.Node

var (
	epoch          = coretest.Epoch
	mustKey        = coretest.NewKey
	ipPacket       = coretest.IPPacket
	waitFor        = coretest.WaitFor
	expectPacket   = coretest.ExpectPacket
	expectNoPacket = coretest.ExpectNoPacket
	send           = coretest.Send
	settle         = coretest.Settle
	advance        = coretest.Advance
)

// testLog returns a debug logger per node when WGPLEX_TEST_LOG is set.
func testLog(outer string) *slog.Logger {
	if os.Getenv("WGPLEX_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", outer)
}

func newNode(t testing.TB, nw *coretest.MemNetwork, clock core.Clock, outer, inner string) *node {
	t.Helper()
	return coretest.NewNode(t, nw, clock, outer, inner, testLog(outer))
}

func pair(t testing.TB, clock core.Clock, psk bool) (a, b *node, nw *coretest.MemNetwork) {
	t.Helper()
	return coretest.Pair(t, clock, psk, testLog)
}

func u16(v uint16) *uint16 { return &v }
