// SPDX-License-Identifier: MIT

package core_test

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
)

// TestReceivedHandshakeCountersByValidity: random bytes of the size and
// type of each handshake message are counted as received but invalid
// (initiations and responses where they arrive, cookie replies by the
// handshake worker); a real handshake afterwards is counted valid.
func TestReceivedHandshakeCountersByValidity(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	attacker := nw.NewBind(netip.MustParseAddr("192.0.2.66"))
	if _, _, err := attacker.Open(40000); err != nil {
		t.Fatal(err)
	}
	ep, err := attacker.ParseEndpoint(a.Bind.AddrPort().String())
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	for _, m := range []struct {
		typ  uint32
		size int
	}{
		{noise.MessageTypeInitiation, noise.InitiationSize},
		{noise.MessageTypeResponse, noise.ResponseSize},
		{noise.MessageTypeCookieReply, noise.CookieReplySize},
	} {
		for range n {
			msg := make([]byte, m.size)
			rand.Read(msg)
			binary.LittleEndian.PutUint32(msg, m.typ)
			if err := attacker.Send([][]byte{msg}, ep); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "random messages counted", func() bool {
		st := a.Tunnel.Stats()
		return st.InitiationsReceived == n && st.ResponsesReceived == n && st.CookieRepliesReceived == n
	})
	st := a.Tunnel.Stats()
	if st.InitiationsInvalid != n || st.ResponsesInvalid != n || st.CookieRepliesInvalid != n {
		t.Fatalf("random messages counted valid: %+v", st)
	}
	if st.Drops[core.DropHandshake] != 3*n {
		t.Fatalf("%d handshake drops for %d random messages", st.Drops[core.DropHandshake], 3*n)
	}

	send(t, a, b, "real")
	// Counted when the worker is done with a message, which may be just
	// after the packet it let through has arrived.
	waitFor(t, "the handshake counted", func() bool {
		st, sb := a.Tunnel.Stats(), b.Tunnel.Stats()
		return st.ResponsesReceived == n+1 && sb.InitiationsReceived == 1
	})
	st, sb := a.Tunnel.Stats(), b.Tunnel.Stats()
	if st.ResponsesInvalid != n {
		t.Fatalf("initiator counted %d invalid responses, want %d", st.ResponsesInvalid, n)
	}
	if sb.InitiationsInvalid != 0 {
		t.Fatalf("responder counted its one real initiation invalid")
	}
}
