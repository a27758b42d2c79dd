// SPDX-License-Identifier: MIT

package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// hostTunnel is a Tunnel over the host's loopback network, with a fixed
// name table, so that the proxies can be tested without a WireGuard
// peer.
type hostTunnel struct{ names map[string]netip.Addr }

func (h hostTunnel) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
func (h hostTunnel) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, address)
}
func (h hostTunnel) ListenPacket(network, address string) (net.PacketConn, error) {
	return net.ListenPacket(network, address)
}
func (h hostTunnel) LookupNetIP(_ context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if a, ok := h.names[host]; ok {
		return []netip.Addr{a}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// loopbackOnly routes 127.0.0.1 and nothing else.
func loopbackOnly(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }

func testOptions() Options {
	return Options{
		Tunnel:           hostTunnel{names: map[string]netip.Addr{"echo.test": netip.MustParseAddr("127.0.0.1")}},
		Routes:           loopbackOnly,
		HandshakeTimeout: 2 * time.Second,
		DialTimeout:      2 * time.Second,
	}
}

func echoListener(t testing.TB) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// exchange writes req to a fresh connection to addr and returns all that
// comes back until the proxy closes or a second passes.
func exchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write(req)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	out, _ := io.ReadAll(c)
	return out
}

func TestSocks5Replies(t *testing.T) {
	echo := echoListener(t)
	s, err := ListenSocks5("127.0.0.1:0", Credentials{}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	port := []byte{byte(echo.Port() >> 8), byte(echo.Port())}
	connect := func(atyp byte, addr ...byte) []byte {
		return append(append([]byte{5, 1, 0, 5, 1, 0, atyp}, addr...), port...)
	}
	cases := []struct {
		name string
		req  []byte
		want []byte // prefix of the answer
	}{
		{"ipv4 and data", append(connect(1, 127, 0, 0, 1), "hi"...), []byte{5, 0, 5, 0, 0, 1, 127, 0, 0, 1}},
		{"name", append(connect(3, append([]byte{9}, "echo.test"...)...), "hi"...), []byte{5, 0, 5, 0}},
		{"unknown name", connect(3, append([]byte{7}, "no.test"...)...), []byte{5, 0, 5, repHostUnreachable}},
		{"not routed", connect(1, 127, 0, 0, 2), []byte{5, 0, 5, repNotAllowed}},
		{"ipv6 not routed", connect(4, make([]byte, 16)...), []byte{5, 0, 5, repNotAllowed}},
		{"bad address type", connect(9), []byte{5, 0, 5, repAddressUnsupported}},
		{"bind", append([]byte{5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1}, port...), []byte{5, 0, 5, repCommandUnsupported}},
		{"no acceptable method", []byte{5, 1, 2}, []byte{5, 0xff}},
		{"socks4", []byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, nil},
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), nil},
	}
	for _, c := range cases {
		got := exchange(t, s.Addr().String(), c.req)
		if !bytes.HasPrefix(got, c.want) || (c.want == nil && len(got) != 0) {
			t.Errorf("%s: got % x, want % x...", c.name, got, c.want)
		}
		if c.name == "ipv4 and data" && !bytes.HasSuffix(got, []byte("hi")) {
			t.Errorf("data not relayed: % x", got)
		}
	}
}

func TestSocks5Auth(t *testing.T) {
	echo := echoListener(t)
	s, err := ListenSocks5("127.0.0.1:0", Credentials{Username: "u", Password: []byte("pw")}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := echo.Addr().As4()
	req := append([]byte{5, 1, 0, 1}, a[:]...)
	req = append(req, byte(echo.Port()>>8), byte(echo.Port()))
	good := append([]byte{5, 1, 2, 1, 1, 'u', 2, 'p', 'w'}, req...)
	if got := exchange(t, s.Addr().String(), good); !bytes.HasPrefix(got, []byte{5, 2, 1, 0, 5, 0}) {
		t.Errorf("right password: % x", got)
	}
	for _, bad := range [][]byte{
		{5, 1, 2, 1, 1, 'u', 2, 'p', 'x'},
		{5, 1, 2, 1, 1, 'x', 2, 'p', 'w'},
		{5, 1, 2, 1, 0, 0},
	} {
		if got := exchange(t, s.Addr().String(), append(bad, req...)); !bytes.Equal(got, []byte{5, 2, 1, 1}) {
			t.Errorf("wrong credentials % x: got % x, want a refusal", bad, got)
		}
	}
	if got := exchange(t, s.Addr().String(), []byte{5, 1, 0}); !bytes.Equal(got, []byte{5, 0xff}) {
		t.Errorf("no-auth method on an authenticating proxy: % x", got)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	o := testOptions()
	o.HandshakeTimeout = 100 * time.Millisecond
	s, err := ListenSocks5("127.0.0.1:0", Credentials{}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5, 1})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a stalled handshake got an answer")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the proxy kept a stalled handshake open")
	}
}

// FuzzSocks5Handshake feeds arbitrary client bytes to the handshake. It
// must end (with a target or an error) and never panic; a target it
// returns has a host.
func FuzzSocks5Handshake(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 10, 0, 0, 1, 0, 80})
	f.Add([]byte{5, 1, 2, 1, 1, 'u', 2, 'p', 'w', 5, 1, 0, 3, 4, 'a', '.', 'b', 'c', 1, 187})
	f.Add([]byte{5, 2, 0, 2, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22})
	f.Add([]byte{5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, cred := range []Credentials{{}, {Username: "u", Password: []byte("pw")}} {
			s := &Socks5{o: testOptions(), cred: cred}
			client, server := net.Pipe()
			go func() {
				client.Write(data)
				client.Close()
			}()
			go io.Copy(io.Discard, client)
			server.SetDeadline(time.Now().Add(time.Second))
			target, err := s.handshake(server)
			server.Close()
			if err == nil && target.host == "" {
				t.Fatal("handshake succeeded without a host")
			}
		}
	})
}
