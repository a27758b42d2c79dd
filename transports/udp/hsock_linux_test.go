// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHandshakeSteering checks that data messages (first byte 4) reach the
// data socket's receive function and every other datagram the handshake
// socket's, for each family, and that the port still refuses a second
// socket that asks to share it.
func TestHandshakeSteering(t *testing.T) {
	b := NewBindWithOptions(Options{})
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.mu.RLock()
	v4, v6 := b.v4, b.v6
	b.mu.RUnlock()
	if v4 == nil || v4.hs == nil {
		t.Fatal("no IPv4 handshake socket (a kernel without SO_ATTACH_REUSEPORT_CBPF?)")
	}
	if !b.Offloads()[OffloadHandshakeSocket] {
		t.Errorf("Offloads %v does not report the handshake socket", b.Offloads())
	}
	type family struct {
		name     string
		data, hs int // indices into fns
		to       netip.Addr
	}
	fams := []family{{"IPv4", 0, 1, netip.MustParseAddr("127.0.0.1")}}
	if v6 != nil && v6.hs != nil && haveIPv6Loopback() {
		fams = append(fams, family{"IPv6", 2, 3, netip.IPv6Loopback()})
	}
	out := make([]chan datagram, len(fns))
	done := make(chan struct{}, len(fns))
	for i, fn := range fns {
		out[i] = make(chan datagram, 64)
		go receiveLoop(fn, b.BatchSize(), out[i], done)
	}
	defer func() {
		b.Close()
		for range fns {
			<-done
		}
	}()
	for _, f := range fams {
		c, err := net.ListenUDP("udp", nil)
		if err != nil {
			t.Fatal(err)
		}
		to := netip.AddrPortFrom(f.to, port)
		for _, msg := range []string{"\x04data", "\x01initiation", "\x02response", "\x03cookie", "\x09junk"} {
			if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
				t.Fatal(err)
			}
			want, other := f.hs, f.data
			if msg[0] == messageTypeData {
				want, other = f.data, f.hs
			}
			d := collect(t, out[want], 1)[0]
			if string(d.data) != msg {
				t.Fatalf("%s: socket %d got %q, want %q", f.name, want, d.data, msg)
			}
			select {
			case d := <-out[other]:
				t.Fatalf("%s: %q also reached socket %d", f.name, d.data, other)
			default:
			}
		}
		c.Close()
	}
	// Another socket asking to share the port is refused: the data
	// socket's bind did not ask for SO_REUSEPORT, but the group has it.
	// What matters is that traffic cannot be split off silently by a
	// second daemon binding the same port the ordinary way.
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(s)
	err = unix.Bind(s, &unix.SockaddrInet4{Port: int(port)})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a plain bind of the port: %v, want EADDRINUSE", err)
	}
}

// With NoHandshakeSocket, handshake messages share the data socket.
func TestNoHandshakeSocket(t *testing.T) {
	b := NewBindWithOptions(Options{NoHandshakeSocket: true})
	fns, _, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := 1
	b.mu.RLock()
	if b.v4 != nil && b.v6 != nil {
		want = 2
	}
	b.mu.RUnlock()
	if len(fns) != want {
		t.Fatalf("%d receive functions, want %d (one per socket)", len(fns), want)
	}
	if on := b.Offloads()[OffloadHandshakeSocket]; on {
		t.Error("Offloads reports a handshake socket that was switched off")
	}
}
