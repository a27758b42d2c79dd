// SPDX-License-Identifier: MIT

package netstack

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// pair connects two netstack devices through two tunnels over an in-memory
// underlay: a is 10.0.0.1 and fd00::1, b is 10.0.0.2 and fd00::2, each
// allowing exactly the other's addresses. b's DNS server is a's address.
func pair(t *testing.T) (a, b *Device) { return pairB(t) }

func pairB(t testing.TB) (a, b *Device) {
	t.Helper()
	nw := coretest.NewMemNetwork()
	newEnd := func(outer string, addrs []string, dns []netip.Addr) (*Device, *core.Tunnel, core.PrivateKey) {
		var ps []netip.Prefix
		for _, s := range addrs {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		d, err := New(Options{Name: "ns" + outer[len(outer)-1:], Addresses: ps, DNS: dns, MTU: 1420})
		if err != nil {
			t.Fatal(err)
		}
		tun, err := core.NewTunnel(core.Options{Device: d, Bind: nw.NewBind(netip.MustParseAddr(outer))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tun.Close() })
		return d, tun, coretest.NewKey(t)
	}
	a, ta, ka := newEnd("192.0.2.1", []string{"10.0.0.1/24", "fd00::1/64"}, nil)
	b, tb, kb := newEnd("192.0.2.2", []string{"10.0.0.2/24", "fd00::2/64"}, []netip.Addr{netip.MustParseAddr("10.0.0.1")})
	pa, pb := uint16(51820), uint16(51821)
	epA, epB := netip.MustParseAddrPort("192.0.2.1:51820"), netip.MustParseAddrPort("192.0.2.2:51821")
	allow := func(s ...string) (out []core.AllowedIPChange) {
		for _, p := range s {
			out = append(out, core.AllowedIPChange{Prefix: netip.MustParsePrefix(p)})
		}
		return out
	}
	if err := ta.Apply(core.Config{PrivateKey: &ka, ListenPort: &pa, Peers: []core.PeerConfig{{
		PublicKey: kb.PublicKey(), Endpoint: &epB, AllowedIPs: allow("10.0.0.2/32", "fd00::2/128")}}}); err != nil {
		t.Fatal(err)
	}
	if err := tb.Apply(core.Config{PrivateKey: &kb, ListenPort: &pb, Peers: []core.PeerConfig{{
		PublicKey: ka.PublicKey(), Endpoint: &epA, AllowedIPs: allow("10.0.0.1/32", "fd00::1/128")}}}); err != nil {
		t.Fatal(err)
	}
	coretest.WaitFor(t, "tunnels up", func() bool { return ta.IsUp() && tb.IsUp() })
	return a, b
}

func echoServer(t *testing.T, ln net.Listener) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo: got %q, want %q", buf, msg)
	}
}

func TestTCPBothFamilies(t *testing.T) {
	a, b := pair(t)
	// One listener without an address takes both families.
	ln, err := a.Net().Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, addr := range []string{"10.0.0.1:7", "[fd00::1]:7"} {
		c, err := b.Net().DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		// More than one MTU, so that segmentation and batching are used.
		msg := string(make([]byte, 200_000))
		roundTrip(t, c, msg)
		c.Close()
	}
}

func TestUDP(t *testing.T) {
	a, b := pair(t)
	// Without an address, one socket takes both families.
	pc, err := a.Net().ListenPacket("udp", ":9000")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	for _, addr := range []string{"10.0.0.1:9000", "[fd00::1]:9000"} {
		udpPing(t, b, addr)
	}
}

func udpPing(t *testing.T, b *Device, addr string) {
	t.Helper()
	c, err := b.Net().Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// UDP may lose the first datagram while the handshake completes;
	// resend until an answer comes.
	buf := make([]byte, 64)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			if string(buf[:n]) != "ping" {
				t.Fatalf("got %q", buf[:n])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no UDP answer: %v", err)
		}
	}
}

// serveDNS answers every A query with 10.0.0.1 and every AAAA query with
// fd00::1, and names under "missing." with NXDOMAIN.
func serveDNS(t *testing.T, pc net.PacketConn) {
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
			switch {
			case q.Name.String() == "missing.example.":
				b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeNameError})
				b.StartQuestions()
				b.Question(q)
			case q.Type == dnsmessage.TypeA:
				b.AResource(rh, dnsmessage.AResource{A: [4]byte{10, 0, 0, 1}})
			case q.Type == dnsmessage.TypeAAAA:
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: netip.MustParseAddr("fd00::1").As16()})
			}
			out, err := b.Finish()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
}

func TestResolverThroughTunnel(t *testing.T) {
	a, b := pair(t)
	pc, err := a.Net().ListenPacket("udp4", "10.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	serveDNS(t, pc)
	ln, err := a.Net().Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, ln)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addrs, err := b.Net().LookupNetIP(ctx, "web.example")
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 {
		t.Fatalf("addresses %v, want 10.0.0.1 and fd00::1", addrs)
	}
	c, err := b.Net().DialContext(ctx, "tcp4", "web.example:80")
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, c, "hello")
	c.Close()
	_, err = b.Net().LookupNetIP(ctx, "missing.example")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Fatalf("lookup of a missing name: %v, want not found", err)
	}
	// A device without DNS servers refuses names instead of asking the
	// host's resolvers.
	if _, err := a.Net().LookupNetIP(ctx, "web.example"); err == nil {
		t.Fatal("lookup without tunnel DNS servers succeeded")
	}
}

func TestDialOutsideAllowedIPsTimesOut(t *testing.T) {
	_, b := pair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Net().DialContext(ctx, "tcp", "10.0.0.99:80"); err == nil {
		t.Fatal("dial to an address no peer allows succeeded")
	}
}

func TestBadAddresses(t *testing.T) {
	if _, err := New(Options{Addresses: []netip.Prefix{{}}}); err == nil {
		t.Fatal("invalid prefix accepted")
	}
	if _, err := New(Options{MTU: 20}); err == nil {
		t.Fatal("MTU 20 accepted")
	}
	if _, err := New(Options{MTU: 1000, Addresses: []netip.Prefix{netip.MustParsePrefix("fd00::1/64")}}); err == nil {
		t.Fatal("MTU 1000 accepted with an IPv6 address")
	}
	d, err := New(Options{Addresses: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Net().Listen("udp", ":1"); err == nil {
		t.Fatal("Listen on udp accepted")
	}
	if _, err := d.Net().Listen("tcp", "name:1"); err == nil {
		t.Fatal("Listen on a host name accepted")
	}
	if _, err := d.Net().Dial("tcp", "0.0.0.0:1"); err == nil {
		t.Fatal("dial to 0.0.0.0 accepted")
	}
	if _, err := d.Net().Dial("sctp", "10.0.0.1:1"); err == nil {
		t.Fatal("unknown network accepted")
	}
}

func TestCloseEndsRead(t *testing.T) {
	d, err := New(Options{Addresses: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-d.Events(); ev != core.EventUp {
		t.Fatalf("first event %v, want up", ev)
	}
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 1500)}
		_, err := d.Read(bufs, []int{0}, 0)
		done <- err
	}()
	d.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still blocked after Close")
	}
	if _, ok := <-d.Events(); ok {
		t.Fatal("Events not closed")
	}
	d.Close()
}

func TestSetMTU(t *testing.T) {
	d, err := New(Options{Addresses: []netip.Prefix{netip.MustParsePrefix("10.1.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-d.Events()
	if err := d.SetMTU(1280); err != nil {
		t.Fatal(err)
	}
	if m, _ := d.MTU(); m != 1280 {
		t.Fatalf("MTU %d", m)
	}
	if ev := <-d.Events(); ev != core.EventMTUUpdate {
		t.Fatalf("event %v", ev)
	}
	if err := d.SetMTU(10); err == nil {
		t.Fatal("MTU 10 accepted")
	}
}
