// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// TestStickySource checks that a reply to a received endpoint leaves from
// the local address the peer wrote to, not from the one the routing table
// would pick. Linux answers on every address of 127.0.0.0/8, so a Bind on
// the wildcard address receives a datagram sent to 127.0.0.2 from
// 127.0.0.1; without a sticky source the reply would come from 127.0.0.1.
func TestStickySource(t *testing.T) {
	b, port, in := openBind(t, 0)
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
	if _, err := client.WriteToUDPAddrPort([]byte("ping"), server); err != nil {
		t.Fatal(err)
	}
	d := collect(t, in, 1)[0]
	ep := d.ep.(*Endpoint)
	if ep.SrcAddr() != server.Addr() {
		t.Fatalf("received endpoint source %v, want %v", ep.SrcAddr(), server.Addr())
	}
	if ep.SrcIfindex() == 0 {
		t.Error("received endpoint has no interface index")
	}
	replyFrom := func() netip.AddrPort {
		t.Helper()
		if err := b.Send([][]byte{[]byte("pong")}, ep); err != nil {
			t.Fatalf("Send: %v", err)
		}
		buf := make([]byte, 64)
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := client.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("reading reply: %v", err)
		}
		if string(buf[:n]) != "pong" {
			t.Fatalf("reply %q", buf[:n])
		}
		return from
	}
	if from := replyFrom(); from != server {
		t.Fatalf("reply came from %v, want %v", from, server)
	}
	ep.ClearSrc()
	if from := replyFrom(); from.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("after ClearSrc reply came from %v, want 127.0.0.1", from)
	}
}

// TestStickySourceV6 checks that IPv6 packet info is received and that a
// reply with the sticky source set goes through.
func TestStickySourceV6(t *testing.T) {
	if !haveIPv6Loopback() {
		t.Skip("no IPv6 loopback on this host")
	}
	b, port, in := openBind(t, 0)
	client, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := netip.AddrPortFrom(netip.IPv6Loopback(), port)
	if _, err := client.WriteToUDPAddrPort([]byte("ping"), server); err != nil {
		t.Fatal(err)
	}
	ep := collect(t, in, 1)[0].ep
	if ep.SrcAddr() != netip.IPv6Loopback() {
		t.Fatalf("received endpoint source %v, want ::1", ep.SrcAddr())
	}
	if err := b.Send([][]byte{[]byte("pong")}, ep); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	_, from, err := client.ReadFromUDPAddrPort(buf)
	if err != nil || from != server {
		t.Fatalf("reply from %v, %v; want %v", from, err, server)
	}
}

// TestStickySourceGone checks the fallback: a source address the host does
// not own makes the kernel refuse the send; Send clears it and succeeds.
func TestStickySourceGone(t *testing.T) {
	b, _, _ := openBind(t, 0)
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	dst := client.LocalAddr().(*net.UDPAddr).AddrPort()
	ep := NewEndpoint(dst, netip.MustParseAddr("192.0.2.77"), 0)
	if err := b.Send([][]byte{[]byte("x")}, ep); err != nil {
		t.Fatalf("Send with a foreign source: %v", err)
	}
	if ep.SrcAddr().IsValid() {
		t.Fatal("the unusable source was not cleared")
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 8)
	if _, err := client.Read(buf); err != nil {
		t.Fatalf("retried datagram not received: %v", err)
	}
}

func TestSetMark(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("SO_MARK needs root (CAP_NET_ADMIN), and CI=true requires this test to run")
		}
		t.Skip("SO_MARK needs root (CAP_NET_ADMIN); run as root or with CI=true to require it")
	}
	b := NewBind()
	if err := b.SetMark(7); err != nil {
		t.Fatalf("SetMark before Open: %v", err)
	}
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkMark(t, b, 7)
	if err := b.SetMark(0x1234); err != nil {
		t.Fatal(err)
	}
	checkMark(t, b, 0x1234)
	if err := b.SetMark(0); err != nil {
		t.Fatal(err)
	}
	checkMark(t, b, 0)
}

func checkMark(t *testing.T, b *Bind, want int) {
	t.Helper()
	for _, s := range []*sock{b.v4, b.v6} {
		if s == nil {
			continue
		}
		var got int
		var gerr error
		if err := s.rc.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK)
		}); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatal(gerr)
		}
		if got != want {
			t.Errorf("SO_MARK on IPv6=%v socket = %#x, want %#x", s.is6, got, want)
		}
	}
}

// TestAllocs pins the steady state of the data path at zero allocations
// per batch: the endpoint of a known sender comes from the receive cache.
func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a := NewBind()
	fns, _, err := a.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	peer := NewBind()
	_, pPort, err := peer.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	toPeer, _ := ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", pPort))
	toA, _ := ParseEndpoint(fmt.Sprintf("127.0.0.1:%d", mustPort(t, a)))
	const n = 16
	out := makeBatch("alloc", n)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 256)
	}
	sizes := make([]int, n)
	segs := make([]int, n)
	eps := make([]core.Endpoint, n)
	roundTrip := func() {
		if err := peer.Send(out, toA); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < n; {
			k, err := fns[0](bufs, sizes, segs, eps)
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
	}
	roundTrip() // warm the pools and the endpoint cache
	if allocs := testing.AllocsPerRun(50, roundTrip); allocs != 0 {
		t.Errorf("send+receive of %d datagrams: %v allocations, want 0", n, allocs)
	}
	if allocs := testing.AllocsPerRun(50, func() {
		if err := a.Send(out, toPeer); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Send of %d datagrams: %v allocations, want 0", n, allocs)
	}
	// A reply with a sticky source also checks the route watcher's
	// answer for the destination: once it is there, no allocation either.
	sticky := eps[0]
	if !sticky.SrcAddr().IsValid() || a.routes == nil {
		t.Fatalf("no sticky source (%v) or no route watcher", sticky.SrcAddr())
	}
	if err := a.Send(out, sticky); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "the route lookup", func() bool {
		_, ok := a.routes.routes.Load().oifs[sticky.DstAddrPort().Addr()]
		return ok
	})
	if allocs := testing.AllocsPerRun(50, func() {
		if err := a.Send(out, sticky); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Send of %d datagrams with a sticky source: %v allocations, want 0", n, allocs)
	}
}

func mustPort(t *testing.T, b *Bind) uint16 {
	t.Helper()
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.v4 == nil {
		t.Fatal("no IPv4 socket")
	}
	return b.v4.port
}

// TestParsePktinfoGarbage feeds random and truncated control messages to
// the parser: it must not panic or read out of bounds.
func TestParsePktinfoGarbage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4*recvOOBSize)
	for range 20000 {
		n := r.IntN(len(buf))
		for i := range n {
			buf[i] = byte(r.Uint32())
		}
		// Aligned like the receive buffers the kernel writes to.
		parsePktinfo(buf[:n])
	}
	if a, i := parsePktinfo(nil); a.IsValid() || i != 0 {
		t.Fatal("empty control data gave a source")
	}
}

func TestSendNoSocketForFamily(t *testing.T) {
	b := NewBind()
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Pretend the host has no IPv6, as Open leaves it when IPv6 is disabled.
	b.mu.Lock()
	if b.v6 != nil {
		b.v6.conn.Close()
		b.v6 = nil
	}
	b.mu.Unlock()
	ep, _ := ParseEndpoint("[fd00::1]:1")
	if err := b.Send([][]byte{{1}}, ep); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("Send to IPv6 without an IPv6 socket: %v, want ErrNoSocket", err)
	}
}
