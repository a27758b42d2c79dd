// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"testing"
	"time"
)

// TestPersistentKeepalive sets persistent-keepalive 1 on A only and sends
// nothing through the tunnel. A's keepalive timer alone must start the
// handshake and then keep packets flowing once a second, which B sees as a
// growing receive counter (a keepalive is an empty transport message, 32
// bytes on the wire, and counts as received).
func TestPersistentKeepalive(t *testing.T) {
	impl := implUnderTest(t)
	a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true, KeepaliveA: 1})

	b.WaitHandshake(a.Key.Public, 10*time.Second)
	// Each wait is three keepalive intervals, for a loaded machine, yet short
	// enough that a keepalive of the wrong period (say 10 s) fails it.
	// Start from what the handshake itself counted, so that only packets
	// sent after it can satisfy the waits.
	last, _ := b.Transfer(a.Key.Public)
	for i := range 3 {
		prev := last
		Eventually(t, 3*time.Second, fmt.Sprintf("keepalive %d to arrive at B", i+1), func() (bool, string) {
			rx, _ := b.Transfer(a.Key.Public)
			last = rx
			return rx > prev, fmt.Sprintf("B rx=%d bytes from A", rx)
		})
	}
	_, tx := a.Transfer(b.Key.Public)
	t.Logf("idle tunnel: B received %d bytes, A sent %d bytes", last, tx)
	if tx == 0 {
		t.Errorf("A reports no bytes sent although B received %d", last)
	}
}
