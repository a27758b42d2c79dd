// SPDX-License-Identifier: MIT

package proxy

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

func udpEchoServer(t *testing.T, addr string) netip.AddrPort {
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestSocks5UDPAssociate(t *testing.T) {
	echo := udpEchoServer(t, "127.0.0.1:0")
	s, err := ListenSocks5("127.0.0.1:0", Credentials{}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctrl, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer ctrl.Close()
	ctrl.SetDeadline(time.Now().Add(5 * time.Second))
	ctrl.Write([]byte{5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0})
	var rep [12]byte
	if _, err := io.ReadFull(ctrl, rep[:]); err != nil || rep[3] != 0 || rep[5] != atypIPv4 {
		t.Fatalf("UDP ASSOCIATE reply % x, %v", rep, err)
	}
	relay := netip.AddrPortFrom(netip.AddrFrom4([4]byte(rep[6:10])), uint16(rep[10])<<8|uint16(rep[11]))
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	// First to an address no peer takes (dropped), then to the echo
	// server: the first answer must be the echo server's.
	uc.Write(append(udpHeader(netip.MustParseAddrPort("127.0.0.2:9")), "lost"...))
	uc.Write(append(udpHeader(echo), "ping"...))
	// Also a fragment and a short datagram, which are dropped.
	uc.Write([]byte{0, 0, 1, 1, 127, 0, 0, 1, 0, 7, 'x'})
	uc.Write([]byte{0, 0})
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	want := append(udpHeader(echo), "echo:ping"...)
	if !bytes.Equal(buf[:n], want) {
		t.Fatalf("got % x, want % x", buf[:n], want)
	}
	// The association ends with its TCP connection: the relay port goes
	// away, which a connected UDP socket sees as "connection refused".
	ctrl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		uc.Write(append(udpHeader(echo), "again"...))
		uc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		_, err := uc.Read(buf)
		if ne, ok := err.(net.Error); err != nil && !(ok && ne.Timeout()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the relay is still there after its TCP connection closed")
		}
	}
}

func TestParseUDPHeader(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		host string
		port uint16
		ok   bool
	}{
		{[]byte{0, 0, 0, 1, 10, 0, 0, 1, 0, 53, 'q'}, "10.0.0.1", 53, true},
		{append([]byte{0, 0, 0, 3, 4}, "a.bc\x01\xbbq"...), "a.bc", 443, true},
		{append(append([]byte{0, 0, 0, 4}, make([]byte, 16)...), 0, 1), "::", 1, true},
		{[]byte{0, 0, 1, 1, 10, 0, 0, 1, 0, 53}, "", 0, false},
		{[]byte{0, 0, 0, 3, 0, 0, 1}, "", 0, false},
		{[]byte{0, 0, 0, 3, 9, 'a'}, "", 0, false},
		{[]byte{0, 0, 0, 9}, "", 0, false},
		{[]byte{0, 0, 0, 1, 10, 0}, "", 0, false},
	} {
		host, port, _, ok := parseUDPHeader(c.in)
		if ok != c.ok || host != c.host || port != c.port {
			t.Errorf("% x: %q %d %v", c.in, host, port, ok)
		}
	}
}

// FuzzParseUDPHeader feeds arbitrary datagrams to the header parser: no
// panic, and a header it accepts for an IP address is the one udpHeader
// writes for it.
func FuzzParseUDPHeader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 10, 0, 0, 1, 0, 53, 'q'})
	f.Add(append([]byte{0, 0, 0, 3, 4}, "a.bc\x01\xbbq"...))
	f.Add(append(append([]byte{0, 0, 0, 4}, make([]byte, 16)...), 0, 1))
	f.Add([]byte{0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		host, port, payload, ok := parseUDPHeader(b)
		if !ok {
			return
		}
		if len(payload) > len(b) {
			t.Fatal("payload longer than the datagram")
		}
		a, err := netip.ParseAddr(host)
		if err != nil || b[3] == atypDomain {
			return
		}
		h := udpHeader(netip.AddrPortFrom(a, port))
		if !bytes.Equal(append(h, payload...), b) && b[3] != atypIPv6 {
			t.Fatalf("% x reparsed as % x", b, append(h, payload...))
		}
	})
}
