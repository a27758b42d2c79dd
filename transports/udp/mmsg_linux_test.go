// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
)

// TestRecvWindowAdapt walks the receive window through a burst and the
// quiet after it.
func TestRecvWindowAdapt(t *testing.T) {
	r := &receiver{want: minRecvWindow}
	for _, step := range []struct{ n, want int }{
		{1, minRecvWindow},             // a lone datagram: stays at the floor
		{minRecvWindow, batchSize},     // filled: opens fully at once
		{batchSize, batchSize},         // stays open while reads fill it
		{batchSize/4 + 1, batchSize},   // more than a quarter: kept
		{batchSize / 4, batchSize / 2}, // a quarter: halved
		{batchSize / 8, batchSize / 4}, // and again
		{batchSize / 4, batchSize},     // filled again: open
		{0, batchSize / 2},             // nothing (cannot happen): halved
		{1, batchSize / 4},             //
		{1, batchSize / 8},             //
		{1, minRecvWindow},             // down to the floor
		{1, minRecvWindow},             // and no further
		{minRecvWindow / 4, minRecvWindow},
	} {
		r.adapt(step.n)
		if r.want != step.want {
			t.Fatalf("after a read of %d: window %d, want %d", step.n, r.want, step.want)
		}
	}
}

// openReceiver opens a Bind that sends and a Bind whose IPv4 data socket
// the returned receiver reads (the Bind's own receive functions are not
// called).
func openReceiver(t *testing.T, opts Options) (a *Bind, r *receiver, toB core.Endpoint) {
	t.Helper()
	a = NewBind()
	if _, _, err := a.Open(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := NewBindWithOptions(opts)
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ep, err := ParseEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), mustPort(t, b)).String())
	if err != nil {
		t.Fatal(err)
	}
	return a, newReceiver(b.v4), ep
}

// recvOnce is one receive call that fails the test if nothing arrives.
func recvOnce(t *testing.T, r *receiver, bufs [][]byte, sizes, segs []int, eps []core.Endpoint) int {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := r.receive(bufs, sizes, segs, eps)
		ch <- result{n, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.n
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
		return 0
	}
}

// TestReceiveSwappedBuffers checks that a read uses the buffers of this
// call, not those of an earlier one, as the engine swaps a spare in for
// a buffer it keeps: a new buffer, a shortened one and the same one
// again. With GRO on and 64 KiB buffers the caller's buffers are used
// directly; with small ones the GRO path's own buffers are, and the two
// share the headers, so alternating between them is checked too.
func TestReceiveSwappedBuffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		bufLen int
	}{
		{"nogro", Options{NoGRO: true}, 2048},
		{"gro/direct", Options{}, groBufLen},
		{"gro/copied", Options{}, 2048},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, r, toB := openReceiver(t, tc.opts)
			bufs := make([][]byte, batchSize)
			for i := range bufs {
				bufs[i] = make([]byte, tc.bufLen)
			}
			sizes := make([]int, batchSize)
			segs := make([]int, batchSize)
			eps := make([]core.Endpoint, batchSize)
			one := func(dg []byte) {
				t.Helper()
				if err := a.Send([][]byte{dg}, toB); err != nil {
					t.Fatal(err)
				}
				if n := recvOnce(t, r, bufs, sizes, segs, eps); n != 1 {
					t.Fatalf("received %d, want 1", n)
				}
			}
			dg := sizedBatch(100, 200, 300)
			one(dg[0])
			if sizes[0] != 100 || !bytes.Equal(bufs[0][:100], dg[0]) || eps[0] == nil {
				t.Fatalf("first datagram: %d bytes", sizes[0])
			}
			// A spare replaces the buffer the engine kept.
			kept := bufs[0]
			bufs[0] = make([]byte, tc.bufLen)
			one(dg[1])
			if sizes[0] != 200 || !bytes.Equal(bufs[0][:200], dg[1]) {
				t.Fatalf("datagram into a swapped-in buffer: %d bytes %q", sizes[0], bufs[0][:4])
			}
			if !bytes.Equal(kept[:100], dg[0]) {
				t.Fatal("a buffer the caller took back was written to")
			}
			// The same memory, shorter: too short for the datagram.
			full := bufs[0]
			bufs[0] = full[:150]
			one(dg[2])
			if sizes[0] != 0 {
				t.Fatalf("a 300-byte datagram into a 150-byte buffer: size %d, want 0", sizes[0])
			}
			bufs[0] = full
			one(dg[2])
			if sizes[0] != 300 || !bytes.Equal(bufs[0][:300], dg[2]) {
				t.Fatalf("datagram after the buffer grew back: %d bytes", sizes[0])
			}
			if tc.opts.NoGRO || tc.bufLen < groBufLen {
				return
			}
			// Alternate with the GRO path's own buffers: small buffers send
			// the next read there, and the headers must find the caller's
			// buffers again afterwards.
			small := make([][]byte, batchSize)
			for i := range small {
				small[i] = make([]byte, 2048)
			}
			if err := a.Send([][]byte{dg[0]}, toB); err != nil {
				t.Fatal(err)
			}
			if n := recvOnce(t, r, small, sizes, segs, eps); n != 1 || !bytes.Equal(small[0][:100], dg[0]) {
				t.Fatalf("through the GRO path: %d datagrams", n)
			}
			clear(bufs[0])
			one(dg[1])
			if sizes[0] != 200 || !bytes.Equal(bufs[0][:200], dg[1]) {
				t.Fatalf("after the GRO path: %d bytes %q", sizes[0], bufs[0][:4])
			}
		})
	}
}

// TestReceiveWindowDelivers sends bursts larger than the window and lone
// datagrams between them: every datagram arrives whole and in order, no
// read returns more than its window, a read that fills the window opens
// it, and lone datagrams bring it back to the floor.
func TestReceiveWindowDelivers(t *testing.T) {
	a, r, toB := openReceiver(t, Options{NoGRO: true})
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, batchSize)
	segs := make([]int, batchSize)
	eps := make([]core.Endpoint, batchSize)
	for _, burst := range []int{1, 40, 1, 1, 1, 1, 1, batchSize + 30, 3} {
		sent := sizedBatch(repeatLen(burst, 120)...)
		if err := a.Send(sent, toB); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < burst; {
			window := r.want
			n := recvOnce(t, r, bufs, sizes, segs, eps)
			if n > window {
				t.Fatalf("a read of %d in a window of %d", n, window)
			}
			if n == window && r.want != batchSize {
				t.Fatalf("a read filled the window of %d, which is now %d", window, r.want)
			}
			for i := range n {
				if got+i >= burst || sizes[i] != 120 || !bytes.Equal(bufs[i][:120], sent[got+i]) {
					t.Fatalf("burst of %d: datagram %d: %d bytes %q", burst, got+i, sizes[i], bufs[i][:4])
				}
			}
			got += n
		}
	}
	// Five lone datagrams after a full window close it to the floor.
	for range 5 {
		if err := a.Send(sizedBatch(120), toB); err != nil {
			t.Fatal(err)
		}
		recvOnce(t, r, bufs, sizes, segs, eps)
	}
	if r.want != minRecvWindow {
		t.Fatalf("window %d after lone datagrams, want %d", r.want, minRecvWindow)
	}
}

// TestReceiveControlAfterLoneDatagram: with GRO, a lone datagram comes
// with packet info only and a coalesced one also with its segment size.
// The control length the kernel wrote for the first must not limit the
// next read, or a control message is cut off: the segment size (a
// coalesced buffer passes for one datagram) or the packet info (the
// sticky source is lost).
func TestReceiveControlAfterLoneDatagram(t *testing.T) {
	a, r, toB := openReceiver(t, Options{})
	if !r.s.gro || !a.v4.gso.Load() {
		t.Skip("no UDP GSO and GRO on this kernel")
	}
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, groBufLen)
	}
	sizes := make([]int, batchSize)
	segs := make([]int, batchSize)
	eps := make([]core.Endpoint, batchSize)
	if err := a.Send(sizedBatch(100), toB); err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	if n := recvOnce(t, r, bufs, sizes, segs, eps); n != 1 || segs[0] != 0 || eps[0].SrcAddr() != lo {
		t.Fatalf("lone datagram: %d buffers, segment %d, source %v", n, segs[0], eps[0].SrcAddr())
	}
	for round := range 3 {
		if err := a.Send(sizedBatch(repeatLen(8, 500)...), toB); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < 8 {
			n := recvOnce(t, r, bufs, sizes, segs, eps)
			for i := range n {
				if sizes[i] > 500 && segs[i] != 500 {
					t.Fatalf("round %d: a %d-byte buffer with segment %d", round, sizes[i], segs[i])
				}
				if src := eps[i].SrcAddr(); src != lo {
					t.Fatalf("round %d: source %v, want %v", round, src, lo)
				}
				got += len(cutSegments(bufs[i][:sizes[i]], segs[i]))
			}
		}
		if got != 8 {
			t.Fatalf("round %d: %d datagrams, want 8", round, got)
		}
		// A lone one between the runs.
		if err := a.Send(sizedBatch(100), toB); err != nil {
			t.Fatal(err)
		}
		if n := recvOnce(t, r, bufs, sizes, segs, eps); n != 1 || eps[0].SrcAddr() != lo {
			t.Fatalf("round %d: lone datagram: %d buffers, source %v", round, n, eps[0].SrcAddr())
		}
	}
}

// TestSendReleaseClearsIovecs: a pooled batch goes back without references
// to the caller's buffers, also after a send longer than one batch.
func TestSendReleaseClearsIovecs(t *testing.T) {
	s := &sock{}
	for _, n := range []int{1, 5, batchSize + 3} {
		sb := newSendBatch()
		bufs := sizedBatch(repeatLen(n, 64)...)
		sb.build(bufs, 16, false, false)
		if rest := bufs[min(n, batchSize):]; len(rest) > 0 {
			sb.build(rest, 16, false, false)
		}
		if sb.niov != min(n, batchSize) {
			t.Fatalf("%d datagrams: %d iovecs recorded, want %d", n, sb.niov, min(n, batchSize))
		}
		s.release(sb)
		for i, iov := range sb.iovs {
			if iov.Base != nil || iov.Len != 0 {
				t.Fatalf("%d datagrams: iovec %d still set after release", n, i)
			}
		}
		if sb.niov != 0 {
			t.Fatalf("niov %d after release", sb.niov)
		}
	}
}
