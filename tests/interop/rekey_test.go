// SPDX-License-Identifier: MIT

package interop

import (
	"fmt"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// refInitiationInterval is the reference's minimum spacing of initiations
// from one peer (HandshakeInitationRate in wireguard-go's device package).
const refInitiationInterval = 20 * time.Millisecond

// TestRekey runs a session across two new handshakes: one wgplex starts
// because its keypair passed REKEY_AFTER_TIME, and one the reference starts
// with a fresh initiation on an established session. wgplex runs on a fake
// clock started at the current time, so that two minutes pass in an
// instant; it only ever moves forward, which keeps wgplex's TAI64N
// timestamps increasing as the reference requires.
func TestRekey(t *testing.T) {
	clock := coretest.NewFakeClock(time.Now())
	w := newWgplex(t, clock)
	r := newRef(t)
	connect(t, w, r, false, nil)

	exchange := func(tag string) {
		t.Helper()
		for _, inner6 := range []bool{false, true} {
			wgplexToRef(t, w, r, inner6, fmt.Sprintf("wgplex %s %s", tag, family(inner6)), waitTimeout)
			refToWgplex(t, w, r, inner6, fmt.Sprintf("wireguard-go %s %s", tag, family(inner6)), waitTimeout)
		}
	}

	exchange("first session")
	if n := w.tun.Stats().HandshakesCompleted; n != 1 {
		t.Fatalf("wgplex completed %d handshakes, want 1", n)
	}
	refFirst := r.lastHandshake(t)

	// wireguard-go refuses initiations from one peer less than 20 ms apart
	// on its own (real) clock, a flood guard independent of timestamps.
	// On the fake clock the rekey could come sooner than that.
	waitFor(t, waitTimeout, "the reference's initiation rate window to pass", func() bool {
		return time.Since(refFirst) > 4*refInitiationInterval
	})

	// Two minutes of quiet on wgplex's clock, a second at a time, so every
	// timer on the way fires when it would (the passive keepalive at 10 s).
	// Nothing may be left to process first: the last packet received must
	// have cancelled the retry timer that the last one sent armed.
	settle(t, w, r)
	for elapsed := time.Duration(0); elapsed <= core.RekeyAfterTime; elapsed += time.Second {
		clock.Advance(time.Second)
	}
	if n := w.tun.Stats().InitiationsSent; n != 1 {
		t.Fatalf("wgplex sent %d initiations during two quiet minutes, want none beyond the first", n)
	}

	// The first packet after that goes out on the old keypair and makes
	// wgplex, the initiator of that keypair, start a new handshake.
	wgplexToRef(t, w, r, false, "after REKEY_AFTER_TIME", waitTimeout)
	waitFor(t, waitTimeout, "wgplex's second handshake", func() bool {
		return w.tun.Stats().HandshakesCompleted == 2
	})
	waitFor(t, waitTimeout, "a newer handshake on wireguard-go", func() bool {
		return r.lastHandshake(t).After(refFirst)
	})
	exchange("after wgplex's rekey")
	settle(t, w, r)
	w.expectStats(t, "2 initiations sent, 2 responses received", func(st core.Stats) bool {
		return st.InitiationsSent == 2 && st.ResponsesReceived == 2
	})

	// Now the reference initiates: re-creating the peer on wireguard-go
	// drops its session, so its next packet starts a handshake that wgplex
	// answers while it still holds a valid session of its own.
	clock.Advance(time.Second)
	refSecond := r.lastHandshake(t)
	r.ipcSet(t, refPeerConf(w, outerAddr(false), nil))
	refToWgplex(t, w, r, false, "first after wireguard-go's rekey", waitTimeout)
	waitFor(t, waitTimeout, "wgplex's third handshake", func() bool {
		return w.tun.Stats().HandshakesCompleted == 3
	})
	if got := r.lastHandshake(t); !got.After(refSecond) {
		t.Errorf("wireguard-go last handshake %v not after %v", got, refSecond)
	}
	exchange("after wireguard-go's rekey")
	w.expectStats(t, "1 initiation received, 1 response sent", func(st core.Stats) bool {
		return st.InitiationsReceived == 1 && st.ResponsesSent == 1
	})
	st := w.tun.Stats()
	t.Logf("wgplex stats after both rekeys: handshakes %d, rotations %d, drops %v",
		st.HandshakesCompleted, st.KeypairRotations, st.Drops)
}
