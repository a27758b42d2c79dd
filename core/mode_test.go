// SPDX-License-Identifier: MIT

package core_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// Both crypto modes must deliver a burst complete and in order: inline
// runs jobs on the reading goroutine, parallel on the workers, and the
// per-peer queues must keep order either way.
//
// With coalescing on, the bind hands over up to 64 datagrams per buffer
// (as with UDP GRO), which the engine cuts apart without copying.
func TestCryptoModesDeliverBurstsInOrder(t *testing.T) {
	for _, tc := range []struct {
		mode     core.CryptoMode
		coalesce bool
	}{{core.CryptoInline, false}, {core.CryptoParallel, false}, {core.CryptoInline, true}, {core.CryptoParallel, true}} {
		mode := tc.mode
		t.Run(fmt.Sprintf("%s/coalesce=%v", mode, tc.coalesce), func(t *testing.T) {
			t.Setenv("WGPLEX_CRYPTO", mode.String())
			clock := coretest.NewFakeClock(epoch)
			a, b, nw := pair(t, clock, false)
			nw.SetCoalesce(tc.coalesce)
			if got := a.Tunnel.CryptoMode(); got != mode {
				t.Fatalf("CryptoMode() = %v, want %v", got, mode)
			}
			send(t, a, b, "warm up") // handshake done
			src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
			const bursts, size = 10, 200
			next := uint32(0)
			for burst := 0; burst < bursts; burst++ {
				for i := 0; i < size; i++ {
					var payload [64]byte
					binary.BigEndian.PutUint32(payload[:], uint32(burst*size+i))
					if !a.Dev.Inject(ipPacket(src, dst, payload[:])) {
						t.Fatal("device queue full")
					}
				}
				deadline := time.After(10 * time.Second)
				for got := 0; got < size; got++ {
					select {
					case p := <-b.Dev.Outbound():
						seq := binary.BigEndian.Uint32(p[len(p)-64:])
						if seq != next {
							t.Fatalf("packet %d arrived when %d was expected", seq, next)
						}
						next++
					case <-deadline:
						t.Fatalf("burst %d: %d of %d packets arrived", burst, got, size)
					}
				}
			}
		})
	}
}

func TestParseCryptoMode(t *testing.T) {
	for in, want := range map[string]core.CryptoMode{"": core.CryptoAuto, "auto": core.CryptoAuto, "inline": core.CryptoInline, "parallel": core.CryptoParallel} {
		if got, err := core.ParseCryptoMode(in); err != nil || got != want {
			t.Errorf("ParseCryptoMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := core.ParseCryptoMode("fast"); err == nil {
		t.Error("ParseCryptoMode(\"fast\") accepted")
	}
}

// A coalesced buffer whose datagrams belong to two keypairs (a rekey in
// the middle of a GRO train) is split between two jobs; every packet still
// arrives once and in order.
func TestCoalescedBufferAcrossRekey(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock, false)
	send(t, a, b, "warm up")
	// Record a's data messages to b instead of delivering them.
	var mu sync.Mutex
	var held [][]byte
	bAddr := b.Bind.AddrPort()
	nw.SetFilter(func(from, to netip.AddrPort, pkt []byte) bool {
		if to != bAddr || len(pkt) <= 32 || pkt[0] != 4 {
			return true // handshakes and keepalives pass
		}
		mu.Lock()
		held = append(held, bytes.Clone(pkt))
		mu.Unlock()
		return false
	})
	heldCount := func() int { mu.Lock(); defer mu.Unlock(); return len(held) }
	src, dst := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	pkt := func(i int) []byte { return ipPacket(src, dst, []byte(fmt.Sprintf("packet %02d", i))) }
	for i := 0; i < 3; i++ {
		a.Dev.Inject(pkt(i))
	}
	waitFor(t, "3 packets on the first keypair", func() bool { return heldCount() == 3 })
	// Past Rekey-After-Time the next packet still uses the old keypair and
	// starts a handshake; packets after it use the new one.
	advance(t, clock, core.RekeyAfterTime+time.Second, time.Second, nw, a, b)
	a.Dev.Inject(pkt(3))
	waitFor(t, "a new keypair on a", func() bool {
		s, _ := a.Tunnel.PeerStateForTest(b.Pub)
		return s.HasPrev && s.HasCur && !s.HandshakeInProgress
	})
	for i := 4; i < 7; i++ {
		a.Dev.Inject(pkt(i))
	}
	waitFor(t, "7 packets held", func() bool { return heldCount() == 7 })
	if bytes.Equal(held[0][4:8], held[6][4:8]) {
		t.Fatal("the held packets did not change keypair")
	}
	// Replay them to b at once from another address: b's bind hands
	// them over as one coalesced buffer.
	nw.SetFilter(nil)
	nw.SetCoalesce(true)
	before := b.Tunnel.RxBufferCopiesForTest()
	inj := nw.NewBind(netip.MustParseAddr("192.0.2.9"))
	if _, _, err := inj.Open(0); err != nil {
		t.Fatal(err)
	}
	defer inj.Close()
	ep, _ := inj.ParseEndpoint(bAddr.String())
	if err := inj.Send(held, ep); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		expectPacket(t, b.Dev, pkt(i))
	}
	if got := b.Tunnel.RxBufferCopiesForTest() - before; got != 1 {
		t.Fatalf("%d buffers split by copying, want 1", got)
	}
}

// Send buffers follow the MTU: after it grows, packets of the new size
// travel whole, and after it shrinks, small ones still do.
func TestSendBuffersFollowMTU(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, _ := pair(t, clock, false)
	send(t, a, b, "warm up")
	big := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i * 13)
		}
		return ipPacket(a.Inner, b.Inner, p)
	}
	for _, mtu := range []int{9000, 1280, 16000} {
		a.Dev.SetMTU(mtu)
		b.Dev.SetMTU(mtu)
		waitFor(t, "the new MTU applied", func() bool { return a.Tunnel.SendBufferSizeForTest() >= mtu+16+32 })
		// Until the device reader wakes up, a packet may still meet a
		// buffer of the old size; the first one after the change is
		// small, so that the reader refreshes its buffers first. Then
		// a batch of big packets fills several of the reader's buffers.
		send(t, a, b, "after the change")
		var ps [][]byte
		for i := 0; i < 5; i++ {
			p := big(mtu - 20 - i)
			ps = append(ps, p)
			if !a.Dev.Inject(p) {
				t.Fatal("inject failed")
			}
		}
		for _, p := range ps {
			expectPacket(t, b.Dev, p)
		}
	}
}

func TestCryptoModeResolve(t *testing.T) {
	for _, c := range []struct {
		m     core.CryptoMode
		procs int
		want  core.CryptoMode
	}{
		{core.CryptoAuto, 1, core.CryptoInline},
		{core.CryptoAuto, 2, core.CryptoInline},
		{core.CryptoAuto, 3, core.CryptoParallel},
		{core.CryptoAuto, 16, core.CryptoParallel},
		{core.CryptoInline, 16, core.CryptoInline},
		{core.CryptoParallel, 1, core.CryptoParallel},
	} {
		if got := c.m.Resolve(c.procs); got != c.want {
			t.Errorf("%v.Resolve(%d) = %v, want %v", c.m, c.procs, got, c.want)
		}
	}
}
