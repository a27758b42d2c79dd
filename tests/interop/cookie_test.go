// SPDX-License-Identifier: MIT

package interop

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/cookie"
)

// cookieTimeout covers the initiator's retransmission after REKEY_TIMEOUT
// (5 s plus up to 333 ms of jitter) in real time, which is when the
// initiation carrying MAC2 goes out, with room to spare.
const cookieTimeout = 15 * time.Second

// TestCookieReplyFromWgplexUnderLoad: wgplex is under load, wireguard-go
// initiates. wgplex must answer with a cookie reply instead of a response;
// wireguard-go retries with MAC2 and the handshake completes.
func TestCookieReplyFromWgplexUnderLoad(t *testing.T) {
	t.Parallel()
	w := newWgplex(t, nil)
	r := newRef(t)
	connect(t, w, r, false, nil)
	w.tun.SetUnderLoad(true)

	refToWgplex(t, w, r, false, "through a cookie", cookieTimeout)

	w.expectStats(t, "a cookie reply sent, then 1 response and 1 handshake", func(st core.Stats) bool {
		return st.CookieRepliesSent > 0 && st.ResponsesSent == 1 && st.HandshakesCompleted == 1
	})
	if !r.log.contains("Receiving cookie response") {
		t.Error("wireguard-go did not log a cookie reply")
	}
	st := w.tun.Stats()
	if r.lastHandshake(t).IsZero() || w.lastHandshake(t).IsZero() {
		t.Error("a side reports no handshake")
	}
	wgplexToRef(t, w, r, false, "back", waitTimeout)
	t.Logf("wgplex sent %d cookie replies for %d initiations", st.CookieRepliesSent, st.InitiationsReceived)
}

// TestCookieReplyFromReferenceUnderLoad puts wireguard-go under load the
// way it detects load: its handshake queue holds at least
// QueueHandshakeSize/8 (128) messages when a worker takes one. A flooder on
// the loopback sends bursts of initiations with a valid MAC1 for the
// reference's key (from no known peer, so each costs the reference a
// Diffie-Hellman before it can discard it) while wgplex initiates. wgplex
// must take the cookie reply, retry with MAC2 and complete the handshake.
func TestCookieReplyFromReferenceUnderLoad(t *testing.T) {
	t.Parallel()
	w := newWgplex(t, nil)
	r := newRef(t)
	connect(t, w, r, false, nil)

	start := time.Now()
	f := startFlood(t, r)
	waitFor(t, waitTimeout, "wireguard-go under load (a cookie reply to the flooder)", func() bool {
		return f.cookies.Load() > 0
	})
	underLoad := time.Since(start)

	pkt := udpPacket(wgplexInner4, refInner4, 40001, 40002, []byte("through a cookie"))
	if !w.dev.Inject(pkt) {
		t.Fatal("wgplex device queue full")
	}
	waitFor(t, cookieTimeout, "a cookie reply to wgplex", func() bool {
		return w.tun.Stats().CookieRepliesReceived > 0
	})
	cookieAt := time.Since(start)
	// The flood goes on so that the retry meets a reference still under
	// load, which now checks wgplex's MAC2.
	expectPacket(t, r.inbound, pkt, cookieTimeout, "wgplex -> wireguard-go after the cookie")
	sent := f.stop()
	t.Logf("reference under load after %v, cookie to wgplex after %v, handshake done after %v",
		underLoad.Round(time.Millisecond), cookieAt.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	w.expectStats(t, "1 handshake", func(st core.Stats) bool { return st.HandshakesCompleted == 1 })
	st := w.tun.Stats()
	if r.lastHandshake(t).IsZero() || w.lastHandshake(t).IsZero() {
		t.Error("a side reports no handshake")
	}
	refToWgplex(t, w, r, false, "back", waitTimeout)
	t.Logf("flood: %d initiations sent, %d cookie replies to the flooder; wgplex: %d initiations, %d cookie replies received",
		sent, f.cookies.Load(), st.InitiationsSent, st.CookieRepliesReceived)
}

// Flood pacing. The reference stays under load for a second after it last
// saw its queue at 128 entries or more, and drops what does not fit in the
// 1024-entry queue, wgplex's initiations included. So the flooder sends a
// burst, then waits until the reference has answered most of it with
// cookie replies (at least floodInterval, at most floodPatience) before the
// next: the queue is refilled past 128 several times a second but never
// kept full, whatever the speed of the machine. A burst that brings no
// cookie reply at all did not reach the threshold, and the next is twice
// as big. Time and count are capped.
const (
	floodFirstBurst = 256
	floodMaxBurst   = 4096
	floodInterval   = 100 * time.Millisecond
	floodPatience   = 500 * time.Millisecond
	floodMaxTime    = 20 * time.Second
	floodMax        = 100_000
)

type flood struct {
	conn    *net.UDPConn
	cookies atomic.Int64
	sent    atomic.Int64
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// startFlood sends bursts of MAC1-valid initiations to the reference's
// 127.0.0.1 port until stopped, floodMaxTime passes or floodMax are sent,
// and counts the cookie replies that come back.
func startFlood(t *testing.T, r *refSide) *flood {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(r.port)})
	if err != nil {
		t.Fatal(err)
	}
	f := &flood{conn: c, done: make(chan struct{})}
	t.Cleanup(func() { f.stop() })

	// A syntactically valid initiation with random contents: type 1,
	// 144 bytes of sender index, ephemeral key, sealed static and
	// timestamp, then MAC1 for the reference's public key and no MAC2.
	msg := make([]byte, 148)
	rand.Read(msg)
	binary.LittleEndian.PutUint32(msg, 1)
	cookie.NewGenerator(r.pub).AddMACs(msg, time.Now())

	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		buf := make([]byte, 128)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if n == 64 && binary.LittleEndian.Uint32(buf) == 3 {
				f.cookies.Add(1)
			}
		}
	}()
	go func() {
		defer f.wg.Done()
		end := time.After(floodMaxTime)
		poll := time.NewTicker(2 * time.Millisecond)
		defer poll.Stop()
		burst := floodFirstBurst
		for f.sent.Load() < floodMax {
			before := f.cookies.Load()
			start := time.Now()
			for range burst {
				if _, err := c.Write(msg); err != nil {
					return
				}
				f.sent.Add(1)
			}
			for {
				select {
				case <-poll.C:
				case <-end:
					return
				case <-f.done:
					return
				}
				waited := time.Since(start)
				answered := f.cookies.Load() - before
				if waited >= floodPatience || waited >= floodInterval && answered >= int64(burst)*3/4 {
					break
				}
			}
			if f.cookies.Load() == before && burst < floodMaxBurst {
				burst *= 2
			}
		}
	}()
	return f
}

// stop ends the flood and returns how many initiations were sent.
func (f *flood) stop() int64 {
	f.once.Do(func() {
		close(f.done)
		f.conn.Close()
		f.wg.Wait()
	})
	return f.sent.Load()
}
