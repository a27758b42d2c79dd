// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/internal/coldbench"
)

// Benchmarks of the data path over loopback, system calls included. The
// Cold variants write over a buffer larger than the caches between
// operations (off the clock), as a tunnel idle between pings finds them.

// benchPair opens a sender and a receiver Bind and returns the receiver's
// data receive function and the endpoint that reaches it.
func benchPair(b *testing.B, send, recv Options) (*Bind, core.ReceiveFunc, core.Endpoint) {
	b.Helper()
	a := NewBindWithOptions(send)
	if _, _, err := a.Open(0); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	r := NewBindWithOptions(recv)
	fns, port, err := r.Open(0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	ep, err := ParseEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	if err != nil {
		b.Fatal(err)
	}
	return a, fns[0], ep
}

// benchBufs is a receive batch the size the engine uses, 64 KiB buffers
// as the engine's.
func benchBufs() ([][]byte, []int, []int, []core.Endpoint) {
	bufs := make([][]byte, batchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<16+64)
	}
	return bufs, make([]int, batchSize), make([]int, batchSize), make([]core.Endpoint, batchSize)
}

// BenchmarkRecvOne is a ping's hop: one datagram sent and received with
// a batch of batchSize buffers.
func BenchmarkRecvOne(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			a, fn, to := benchPair(b, Options{}, Options{})
			bufs, sizes, segs, eps := benchBufs()
			dg := [][]byte{make([]byte, 128)}
			dg[0][0] = 4
			coldbench.Loop(b, cold, func() {
				if err := a.Send(dg, to); err != nil {
					b.Fatal(err)
				}
				if n, err := fn(bufs, sizes, segs, eps); err != nil || n != 1 {
					b.Fatalf("received %d: %v", n, err)
				}
			})
		})
	}
}

// BenchmarkRecvBatch is a full batch without offloads: batchSize
// datagrams sent and received, per datagram.
func BenchmarkRecvBatch(b *testing.B) {
	a, fn, to := benchPair(b, Options{NoGSO: true, NoGRO: true}, Options{NoGSO: true, NoGRO: true})
	bufs, sizes, segs, eps := benchBufs()
	dgs := make([][]byte, batchSize)
	for i := range dgs {
		dgs[i] = make([]byte, 1400)
		dgs[i][0] = 4
	}
	b.SetBytes(1400)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		if err := a.Send(dgs, to); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < batchSize; {
			n, err := fn(bufs, sizes, segs, eps)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}

// BenchmarkSendSticky is a reply: one datagram to an endpoint with a
// sticky source, which the route watcher checks.
func BenchmarkSendSticky(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			a, fn, to := benchPair(b, Options{}, Options{})
			bufs, sizes, segs, eps := benchBufs()
			dg := [][]byte{make([]byte, 128)}
			dg[0][0] = 4
			if err := a.Send(dg, to); err != nil {
				b.Fatal(err)
			}
			if _, err := fn(bufs, sizes, segs, eps); err != nil {
				b.Fatal(err)
			}
			// The sender replies: the sticky source (127.0.0.1 on lo) is
			// valid on its socket too. Wait for its route watcher to look
			// the destination up, so that the steady state is measured.
			sticky := eps[0]
			if !sticky.SrcAddr().IsValid() {
				b.Fatal("no sticky source")
			}
			if err := a.Send(dg, sticky); err != nil {
				b.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !routeKnown(a, sticky.DstAddrPort().Addr()) {
				if time.Now().After(deadline) {
					b.Fatal("the route watcher did not look the destination up")
				}
				time.Sleep(time.Millisecond)
			}
			coldbench.Loop(b, cold, func() {
				if err := a.Send(dg, sticky); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkEndpointCache is the receive path's endpoint lookup for a
// datagram from the peer of the last one.
func BenchmarkEndpointCache(b *testing.B) {
	var c epCache
	k := epKey{dst: netip.MustParseAddrPort("192.0.2.1:51820"), src: netip.MustParseAddr("192.0.2.2"), ifindex: 2}
	c.get(k)
	b.ReportAllocs()
	for range b.N {
		if c.get(k) == nil {
			b.Fatal("nil")
		}
	}
}
