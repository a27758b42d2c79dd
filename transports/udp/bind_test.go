// SPDX-License-Identifier: MIT

package udp

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
)

// datagram is one received datagram, copied out of the receive buffers.
type datagram struct {
	data []byte
	ep   core.Endpoint
}

// openBind opens a Bind on port and starts a goroutine per receive
// function that forwards datagrams to the returned channel. The Bind is
// closed at the end of the test.
func openBind(t *testing.T, port uint16) (*Bind, uint16, <-chan datagram) {
	t.Helper()
	b := NewBind()
	fns, actual, err := b.Open(port)
	if err != nil {
		t.Fatalf("Open(%d): %v", port, err)
	}
	if actual == 0 || (port != 0 && actual != port) {
		t.Fatalf("Open(%d) bound port %d", port, actual)
	}
	out := make(chan datagram, 1024)
	done := make(chan struct{})
	for _, fn := range fns {
		go receiveLoop(fn, b.BatchSize(), out, done)
	}
	t.Cleanup(func() {
		b.Close()
		for range fns {
			<-done
		}
	})
	return b, actual, out
}

func receiveLoop(fn core.ReceiveFunc, batch int, out chan<- datagram, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, batch)
	segs := make([]int, batch)
	eps := make([]core.Endpoint, batch)
	for {
		n, err := fn(bufs, sizes, segs, eps)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				out <- datagram{data: []byte("error: " + err.Error())}
			}
			return
		}
		for i := range n {
			if segs[i] != 0 {
				// 2 KiB buffers never get a coalesced message.
				out <- datagram{data: []byte("error: coalesced into a small buffer")}
			}
			out <- datagram{data: bytes.Clone(bufs[i][:sizes[i]]), ep: eps[i]}
		}
	}
}

func collect(t *testing.T, ch <-chan datagram, n int) []datagram {
	t.Helper()
	var got []datagram
	timeout := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case d := <-ch:
			got = append(got, d)
		case <-timeout:
			t.Fatalf("received %d of %d datagrams", len(got), n)
		}
	}
	return got
}

func makeBatch(prefix string, n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = fmt.Appendf(nil, "%s-%03d", prefix, i)
	}
	return bufs
}

func TestExchangeBatches(t *testing.T) {
	for _, loop := range []string{"127.0.0.1", "::1"} {
		t.Run(loop, func(t *testing.T) {
			if loop == "::1" && !haveIPv6Loopback() {
				t.Skip("no IPv6 loopback on this host")
			}
			a, _, aIn := openBind(t, 0)
			b, bPort, bIn := openBind(t, 0)
			// More than one batch, so the chunking in Send is exercised.
			n := 2*a.BatchSize() + 3
			toB, err := a.ParseEndpoint(netip.AddrPortFrom(netip.MustParseAddr(loop), bPort).String())
			if err != nil {
				t.Fatal(err)
			}
			sent := makeBatch("a-to-b", n)
			if err := a.Send(sent, toB); err != nil {
				t.Fatalf("Send a->b: %v", err)
			}
			got := collect(t, bIn, n)
			for i := range got {
				if !bytes.Equal(got[i].data, sent[i]) {
					t.Fatalf("b got datagram %d = %q, want %q", i, got[i].data, sent[i])
				}
			}
			// Reply to the endpoint as received, as the engine does.
			back := got[0].ep
			if back.DstAddrPort().Addr() != netip.MustParseAddr(loop) {
				t.Fatalf("received endpoint %v, want address %s", back, loop)
			}
			replies := makeBatch("b-to-a", n)
			if err := b.Send(replies, back); err != nil {
				t.Fatalf("Send b->a: %v", err)
			}
			for i, d := range collect(t, aIn, n) {
				if !bytes.Equal(d.data, replies[i]) {
					t.Fatalf("a got datagram %d = %q, want %q", i, d.data, replies[i])
				}
			}
		})
	}
}

func haveIPv6Loopback() bool {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestOpenCloseRebind(t *testing.T) {
	b := NewBind()
	fns, p1, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	if p1 == 0 || len(fns) == 0 {
		t.Fatalf("Open(0) = %d fns, port %d", len(fns), p1)
	}
	if _, _, err := b.Open(0); !errors.Is(err, ErrAlreadyOpen) {
		t.Fatalf("second Open: %v, want ErrAlreadyOpen", err)
	}
	// A receive function blocked at Close returns net.ErrClosed.
	errc := make(chan error, 1)
	go func() {
		_, err := fns[0](make([][]byte, 1), make([]int, 1), make([]int, 1), make([]core.Endpoint, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("receive after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("receive did not return after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ep, _ := ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", p1))
	if err := b.Send([][]byte{{1}}, ep); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Send on closed Bind: %v, want net.ErrClosed", err)
	}

	// Reopen on a port known to be free and different from the first.
	p2 := freePort(t, p1)
	fns, got, err := b.Open(p2)
	if err != nil {
		t.Fatalf("Open(%d) after Close: %v", p2, err)
	}
	defer b.Close()
	if got != p2 {
		t.Fatalf("Open(%d) bound %d", p2, got)
	}
	// The first port is released.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(p1)})
	if err != nil {
		t.Fatalf("port %d still held after Close: %v", p1, err)
	}
	c.Close()
	// And the new one works.
	peer, _, _ := openBind(t, 0)
	to, _ := ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", p2))
	if err := peer.Send([][]byte{[]byte("hello")}, to); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, len(fns))
	in := make(chan datagram, 4)
	for _, fn := range fns {
		go receiveLoop(fn, b.BatchSize(), in, done)
	}
	if d := collect(t, in, 1)[0]; string(d.data) != "hello" {
		t.Fatalf("got %q", d.data)
	}
	b.Close()
	for range fns {
		<-done
	}
}

// freePort returns a UDP port free on IPv4 and IPv6 (where present) that
// differs from not.
func freePort(t *testing.T, not uint16) uint16 {
	t.Helper()
	for range 100 {
		b := NewBind()
		_, p, err := b.Open(0)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		if p != not {
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}
