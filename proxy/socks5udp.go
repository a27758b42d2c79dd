// SPDX-License-Identifier: MIT

package proxy

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"
)

// SOCKS5 UDP ASSOCIATE (RFC 1928 section 7). The proxy opens a UDP socket
// on the address the client reached it at and relays datagrams between
// it and the tunnel, each wrapped in the RFC's header. The association
// lasts as long as the TCP connection that asked for it, as the RFC
// says, so it counts against the same connection limit. Only datagrams
// from the client's address are accepted, and fragments (FRAG != 0) are
// dropped, as the RFC allows.

const cmdUDPAssociate = 0x03

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// udpAssociate serves one association until ctrl closes.
func (s *Socks5) udpAssociate(ctrl net.Conn) {
	local, _ := netip.ParseAddrPort(ctrl.LocalAddr().String())
	peer, _ := netip.ParseAddrPort(ctrl.RemoteAddr().String())
	relay, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Addr(), 0)))
	if err != nil {
		reply(ctrl, repGeneralFailure, nil)
		return
	}
	defer relay.Close()
	bound, _ := netip.ParseAddrPort(relay.LocalAddr().String())
	if err := reply(ctrl, repSucceeded, &bound); err != nil {
		return
	}
	ctrl.SetDeadline(time.Time{})
	a := &association{s: s, relay: relay, clientIP: peer.Addr().Unmap(), socks: map[bool]net.PacketConn{}}
	defer a.close()
	go a.fromClient()
	// The association ends when the control connection does.
	var b [1]byte
	for {
		if _, err := ctrl.Read(b[:]); err != nil {
			return
		}
	}
}

type association struct {
	s        *Socks5
	relay    *net.UDPConn
	clientIP netip.Addr

	mu     sync.Mutex
	client netip.AddrPort          // where replies go: the first sender
	socks  map[bool]net.PacketConn // tunnel sockets by "is IPv6"
	wg     sync.WaitGroup
	closed bool
}

func (a *association) close() {
	a.relay.Close()
	a.mu.Lock()
	a.closed = true
	for _, c := range a.socks {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// fromClient unwraps the client's datagrams and sends them into the
// tunnel.
func (a *association) fromClient() {
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := a.relay.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from.Addr().Unmap() != a.clientIP {
			continue
		}
		a.mu.Lock()
		if !a.client.IsValid() {
			a.client = from
		}
		ok := a.client == from
		a.mu.Unlock()
		if !ok {
			continue
		}
		host, port, payload, ok := parseUDPHeader(buf[:n])
		if !ok {
			continue
		}
		a.send(host, port, payload)
	}
}

// send resolves host through the tunnel and sends payload there, if a
// peer takes the address.
func (a *association) send(host string, port uint16, payload []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), a.s.o.DialTimeout)
	addrs, err := a.s.o.Tunnel.LookupNetIP(ctx, host)
	cancel()
	if err != nil || len(addrs) == 0 {
		return
	}
	dst := addrs[0]
	if a.s.o.Routes != nil && !a.s.o.Routes(dst) {
		a.s.o.Logger.Debug("SOCKS5 UDP: destination not routed", "dst", dst.String())
		return
	}
	pc := a.socket(dst.Is6())
	if pc == nil {
		return
	}
	pc.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
}

// socket returns the association's tunnel socket of the family, opening
// it and its reader on first use.
func (a *association) socket(v6 bool) net.PacketConn {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	if pc, ok := a.socks[v6]; ok {
		return pc
	}
	network := "udp4"
	if v6 {
		network = "udp6"
	}
	pc, err := a.s.o.Tunnel.ListenPacket(network, ":0")
	if err != nil {
		a.s.o.Logger.Debug("SOCKS5 UDP: cannot open a tunnel socket", "err", err)
		return nil
	}
	a.socks[v6] = pc
	a.wg.Add(1)
	go a.toClient(pc)
	return pc
}

// toClient wraps what the tunnel sends back and passes it to the client.
func (a *association) toClient(pc net.PacketConn) {
	defer a.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		src, err := netip.ParseAddrPort(from.String())
		if err != nil {
			continue
		}
		a.mu.Lock()
		client := a.client
		a.mu.Unlock()
		if !client.IsValid() {
			continue
		}
		a.relay.WriteToUDPAddrPort(append(udpHeader(src), buf[:n]...), client)
	}
}

// parseUDPHeader splits a client datagram into destination and payload.
func parseUDPHeader(b []byte) (host string, port uint16, payload []byte, ok bool) {
	if len(b) < 4 || b[0] != 0 || b[1] != 0 || b[2] != 0 {
		return "", 0, nil, false
	}
	rest := b[4:]
	switch b[3] {
	case atypIPv4:
		if len(rest) < 4+2 {
			return "", 0, nil, false
		}
		host, rest = netip.AddrFrom4([4]byte(rest[:4])).String(), rest[4:]
	case atypIPv6:
		if len(rest) < 16+2 {
			return "", 0, nil, false
		}
		host, rest = netip.AddrFrom16([16]byte(rest[:16])).Unmap().String(), rest[16:]
	case atypDomain:
		if len(rest) < 1 || rest[0] == 0 || len(rest) < 1+int(rest[0])+2 {
			return "", 0, nil, false
		}
		host, rest = string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	default:
		return "", 0, nil, false
	}
	return host, binary.BigEndian.Uint16(rest), rest[2:], true
}

// udpHeader is the RFC's header for a datagram from src.
func udpHeader(src netip.AddrPort) []byte {
	h := []byte{0, 0, 0}
	if a := src.Addr().Unmap(); a.Is4() {
		b := a.As4()
		h = append(append(h, atypIPv4), b[:]...)
	} else {
		b := a.As16()
		h = append(append(h, atypIPv6), b[:]...)
	}
	return binary.BigEndian.AppendUint16(h, src.Port())
}
