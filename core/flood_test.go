// SPDX-License-Identifier: MIT

package core_test

import (
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/core/ratelimit"
)

// flooder sends handshake initiations with a valid MAC1 for the victim's
// key and garbage everywhere else: the cheapest flood that still has to
// be taken seriously, since MAC1 only proves knowledge of the public key.
type flooder struct {
	bind    *coretest.MemBind
	to      core.Endpoint
	msgs    [][]byte
	next    int
	replies atomic.Uint64 // cookie replies (or anything) that came back
}

// newFlooder opens a bind at addr that floods victim (at victimEP).
func newFlooder(tb testing.TB, nw *coretest.MemNetwork, addr string, victim core.PublicKey, victimEP netip.AddrPort) *flooder {
	tb.Helper()
	f := &flooder{bind: nw.NewBind(netip.MustParseAddr(addr)), to: &coretest.MemEndpoint{Dst: victimEP}}
	fns, _, err := f.bind.Open(0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.bind.Close() })
	// Whatever comes back is counted and thrown away, so that the
	// flooder's inbox never fills and every reply sent is seen.
	go func() {
		const batch = 32
		bufs := make([][]byte, batch)
		for i := range bufs {
			bufs[i] = make([]byte, 256)
		}
		sizes, segs := make([]int, batch), make([]int, batch)
		eps := make([]core.Endpoint, batch)
		for {
			n, err := fns[0](bufs, sizes, segs, eps)
			if err != nil {
				return
			}
			f.replies.Add(uint64(n))
		}
	}()
	gen := cookie.NewGenerator(victim)
	now := time.Now()
	f.msgs = make([][]byte, 1024)
	for i := range f.msgs {
		m := make([]byte, noise.InitiationSize)
		rand.Read(m)
		binary.LittleEndian.PutUint32(m[0:4], noise.MessageTypeInitiation)
		gen.AddMACs(m, now)
		f.msgs[i] = m
	}
	return f
}

// send sends n initiations, up to 32 per call as a socket would.
func (f *flooder) send(tb testing.TB, n int) {
	for n > 0 {
		k := min(n, 32, len(f.msgs)-f.next)
		if err := f.bind.Send(f.msgs[f.next:f.next+k], f.to); err != nil {
			tb.Fatal(err)
		}
		f.next = (f.next + k) % len(f.msgs)
		n -= k
	}
}

// BenchmarkHandshakeFlood measures what a flood of valid-MAC1 initiations
// costs the victim, in CPU time (all goroutines, the flooder's sends
// included) per flood datagram, what share of them got an answer (a
// cookie reply under load), and how many sends the victim made per
// datagram (each a system call on a real socket). "underload" holds the victim under load,
// the steady state of a long flood; "auto" lets the engine decide, after
// an onset of 2048 datagrams (dh/dgram counts initiations that still
// reached the Diffie-Hellman work). Datagrams go out in rounds of
// 1024 and each round is waited for, so none are lost on the way and the
// figure is per datagram handled, not per datagram dropped.
func BenchmarkHandshakeFlood(b *testing.B) {
	for _, tc := range []struct {
		name  string
		force bool
	}{{"underload", true}, {"auto", false}} {
		b.Run(tc.name, func(b *testing.B) {
			_, victim, nw := pair(b, core.SystemClock{}, false)
			victim.Tunnel.SetUnderLoad(tc.force)
			f := newFlooder(b, nw, "192.0.2.66", victim.Pub, netip.MustParseAddrPort("192.0.2.2:51821"))
			const round = 1024
			// The onset: until the state sets in, up to an eighth of the
			// handshake queue reaches the Diffie-Hellman work. What is
			// measured is the flood that goes on after it.
			f.send(b, 2*round)
			waitQuiet(b, nw, victim)
			s0, sends0 := victim.Tunnel.Stats(), victim.Bind.SendCalls()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				k := min(round, b.N-sent)
				f.send(b, k)
				sent += k
				waitQuiet(b, nw, victim)
			}
			b.StopTimer()
			cpu := cpuTime(b) - cpu0
			s1, sends1 := victim.Tunnel.Stats(), victim.Bind.SendCalls()
			coretest.WaitFor(b, "replies delivered", func() bool {
				return f.replies.Load() >= s1.CookieRepliesSent-s0.CookieRepliesSent
			})
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(sent), "cpu-ns/dgram")
			b.ReportMetric(float64(s1.CookieRepliesSent-s0.CookieRepliesSent)/float64(sent), "answered/dgram")
			b.ReportMetric(float64(s1.KeyStoreCalls-s0.KeyStoreCalls)/float64(sent), "dh/dgram")
			b.ReportMetric(float64(sends1-sends0)/float64(sent), "sends/dgram")
		})
	}
}

// waitQuiet waits until the network and n have handled everything sent,
// polling gently so that the wait itself costs little CPU.
func waitQuiet(tb testing.TB, nw *coretest.MemNetwork, n *coretest.Node) {
	deadline := time.Now().Add(30 * time.Second)
	for !nw.Idle() || !n.Tunnel.Idle() {
		if time.Now().After(deadline) {
			tb.Fatal("flood not handled within 30 s")
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestHandshakeDuringFlood checks that a peer completes a fresh handshake
// within Rekey-Timeout plus its jitter and a margin (6 s of protocol time)
// while the responder receives a steady flood of valid-MAC1 initiations
// from another address. The responder is held under load, as a long flood
// keeps it (whether a burst reaches the queue depth that sets the state
// depends on the machine's speed): the peer gets a cookie reply, and its
// retry, carrying MAC2, must get through the flood and the rate limiter
// that the flooder's own address is held to. The clock is a fake one moved
// in steps of 100 ms, each step with its share of the flood.
func TestHandshakeDuringFlood(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	f := newFlooder(t, nw, "192.0.2.66", b.Pub, netip.MustParseAddrPort("192.0.2.2:51821"))
	const step = 100 * time.Millisecond
	const perStep = 1024 // about 10,000 datagrams per second of protocol time
	b.Tunnel.SetUnderLoad(true)
	f.send(t, perStep)
	settle(t, nw, a, b)
	a.Dev.Inject(ipPacket(a.Inner, b.Inner, []byte("during the flood")))
	start := clock.Now()
	for a.Tunnel.Stats().HandshakesCompleted == 0 {
		if clock.Now().Sub(start) > 6*time.Second {
			s := b.Tunnel.Stats()
			t.Fatalf("no handshake within 6 s of flood: responder under load %v, %d cookie replies, %d queue drops",
				s.UnderLoad, s.CookieRepliesSent, s.Drops[core.DropQueueFull])
		}
		f.send(t, perStep)
		settle(t, nw, a, b)
		clock.Advance(step)
		settle(t, nw, a, b)
	}
	t.Logf("handshake after %v of protocol time; %d cookie replies to the flood", clock.Now().Sub(start), f.replies.Load())
	if got := f.replies.Load(); got == 0 {
		t.Fatal("the flood got no cookie replies")
	}
	if a.Tunnel.Stats().CookieRepliesReceived == 0 {
		t.Fatal("the peer got no cookie reply: the test did not exercise the load path")
	}
	send(t, a, b, "after the handshake")
}

// TestFloodHoldsLoadState: a flood that only needs cookies never reaches
// the handshake queue whose depth set the load state, so its messages
// themselves hold it while they come at that rate, although its source
// gets cookie replies only at its rate limit; once they stop, the state
// lapses after UnderLoadHold, and a slower trickle does not hold it at all.
func TestFloodHoldsLoadState(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	_, b, nw := pair(t, clock, false)
	f := newFlooder(t, nw, "192.0.2.66", b.Pub, netip.MustParseAddrPort("192.0.2.2:51821"))
	b.Tunnel.SetUnderLoad(true)
	const n = core.HandshakeQueueSize / 8
	f.send(t, n)
	settle(t, nw, b)
	// The fake clock stands still: the source's burst, and no more.
	st := b.Tunnel.Stats()
	if st.CookieRepliesSent != ratelimit.PacketsBurst {
		t.Fatalf("%d cookie replies for %d initiations from one source under load, want %d", st.CookieRepliesSent, n, ratelimit.PacketsBurst)
	}
	if got := st.Drops[core.DropHandshakeRate]; got != n-ratelimit.PacketsBurst {
		t.Fatalf("%d initiations over the source's rate counted, want %d", got, n-ratelimit.PacketsBurst)
	}
	b.Tunnel.SetUnderLoad(false)
	if !b.Tunnel.Stats().UnderLoad {
		t.Fatal("load state not held by the flood")
	}
	clock.Advance(core.UnderLoadHold + time.Millisecond)
	if b.Tunnel.Stats().UnderLoad {
		t.Fatal("load state held after the flood stopped")
	}

	// As many messages, spread over more than UnderLoadHold, do not hold it.
	b.Tunnel.SetUnderLoad(true)
	f.send(t, core.HandshakeQueueSize/8-1)
	settle(t, nw, b)
	clock.Advance(core.UnderLoadHold + time.Millisecond)
	f.send(t, 1)
	settle(t, nw, b)
	b.Tunnel.SetUnderLoad(false)
	if b.Tunnel.Stats().UnderLoad {
		t.Fatal("load state held by a trickle")
	}
}
