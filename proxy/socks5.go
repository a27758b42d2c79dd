// SPDX-License-Identifier: MIT

package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929).
// CONNECT and UDP ASSOCIATE (socks5udp.go) are served; BIND is answered
// "command not supported".

const (
	socksVersion     = 5
	authNone         = 0x00
	authPassword     = 0x02
	authNoAcceptable = 0xff
	cmdConnect       = 0x01
	atypIPv4         = 0x01
	atypDomain       = 0x03
	atypIPv6         = 0x04
)

// Reply codes of RFC 1928 section 6.
const (
	repSucceeded          = 0x00
	repGeneralFailure     = 0x01
	repNotAllowed         = 0x02
	repNetworkUnreachable = 0x03
	repHostUnreachable    = 0x04
	repConnectionRefused  = 0x05
	repCommandUnsupported = 0x07
	repAddressUnsupported = 0x08
)

// Socks5 is a SOCKS5 server in front of the tunnel.
type Socks5 struct {
	srv  *server
	o    Options
	cred Credentials
}

// ListenSocks5 serves SOCKS5 on the host address bind.
func ListenSocks5(bind string, cred Credentials, o Options) (*Socks5, error) {
	o.fill()
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("socks5: %w", err)
	}
	s := &Socks5{o: o, cred: cred}
	s.srv = newServer("socks5", ln, o.MaxConns, o.Logger, s.handle)
	s.srv.start()
	return s, nil
}

// Addr is the address the proxy listens on.
func (s *Socks5) Addr() net.Addr { return s.srv.Addr() }

// Close stops the proxy and ends its connections.
func (s *Socks5) Close() error { return s.srv.Close() }

func (s *Socks5) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(s.o.HandshakeTimeout))
	target, err := s.handshake(c)
	if err != nil {
		s.o.Logger.Debug("SOCKS5 client refused", "client", c.RemoteAddr().String(), "err", err)
		return
	}
	if target.cmd == cmdUDPAssociate {
		s.udpAssociate(c)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host, port := target.host, target.port
	up, err := dialTunnel(ctx, &s.o, "tcp", host, port)
	if err != nil {
		s.o.Logger.Debug("SOCKS5 connect failed", "client", c.RemoteAddr().String(), "target", net.JoinHostPort(host, fmt.Sprint(port)), "err", err)
		reply(c, replyCode(err), nil)
		return
	}
	bound, _ := netip.ParseAddrPort(up.LocalAddr().String())
	if err := reply(c, repSucceeded, &bound); err != nil {
		up.Close()
		return
	}
	c.SetDeadline(time.Time{})
	relay(c, up)
}

// replyCode maps a dial failure to the reply a client can act on.
func replyCode(err error) byte {
	switch {
	case errors.Is(err, ErrNotRouted):
		return repNotAllowed
	case errors.Is(err, ErrResolve):
		return repHostUnreachable
	case strings.Contains(err.Error(), "refused"):
		return repConnectionRefused
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out"):
		return repHostUnreachable
	}
	return repGeneralFailure
}

type socksTarget struct {
	cmd  byte
	host string
	port uint16
}

// handshake runs the method negotiation, authentication and request. On
// a protocol error it has already answered what the protocol allows.
func (s *Socks5) handshake(c net.Conn) (socksTarget, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return socksTarget{}, err
	}
	if hdr[0] != socksVersion {
		return socksTarget{}, fmt.Errorf("not SOCKS5 (version byte %#x)", hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return socksTarget{}, err
	}
	want := byte(authNone)
	if s.cred.required() {
		want = authPassword
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		c.Write([]byte{socksVersion, authNoAcceptable})
		return socksTarget{}, fmt.Errorf("client offers no acceptable authentication method")
	}
	if _, err := c.Write([]byte{socksVersion, want}); err != nil {
		return socksTarget{}, err
	}
	if want == authPassword {
		if err := s.authenticate(c); err != nil {
			return socksTarget{}, err
		}
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return socksTarget{}, err
	}
	if req[0] != socksVersion {
		reply(c, repGeneralFailure, nil)
		return socksTarget{}, fmt.Errorf("request of version %#x", req[0])
	}
	var t socksTarget
	switch req[3] {
	case atypIPv4:
		var a [4]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			return t, err
		}
		t.host = netip.AddrFrom4(a).String()
	case atypIPv6:
		var a [16]byte
		if _, err := io.ReadFull(c, a[:]); err != nil {
			return t, err
		}
		t.host = netip.AddrFrom16(a).Unmap().String()
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return t, err
		}
		name := make([]byte, n[0])
		if _, err := io.ReadFull(c, name); err != nil {
			return t, err
		}
		if n[0] == 0 {
			reply(c, repHostUnreachable, nil)
			return t, fmt.Errorf("empty host name")
		}
		t.host = string(name)
	default:
		reply(c, repAddressUnsupported, nil)
		return t, fmt.Errorf("address type %#x", req[3])
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return t, err
	}
	t.port = binary.BigEndian.Uint16(port[:])
	t.cmd = req[1]
	if req[1] != cmdConnect && req[1] != cmdUDPAssociate {
		reply(c, repCommandUnsupported, nil)
		return t, fmt.Errorf("command %#x not supported", req[1])
	}
	return t, nil
}

// authenticate runs RFC 1929's exchange.
func (s *Socks5) authenticate(c net.Conn) error {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	if hdr[0] != 1 {
		c.Write([]byte{1, 1})
		return fmt.Errorf("authentication of version %#x", hdr[0])
	}
	user := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, user); err != nil {
		return err
	}
	var n [1]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return err
	}
	pass := make([]byte, n[0])
	defer clear(pass)
	if _, err := io.ReadFull(c, pass); err != nil {
		return err
	}
	if !s.cred.check(user, pass) {
		c.Write([]byte{1, 1})
		return fmt.Errorf("wrong username or password")
	}
	_, err := c.Write([]byte{1, 0})
	return err
}

// reply sends a reply with the bound address, or 0.0.0.0:0.
func reply(c net.Conn, code byte, bound *netip.AddrPort) error {
	msg := []byte{socksVersion, code, 0}
	if bound != nil && bound.Addr().Is6() && !bound.Addr().Is4In6() {
		a := bound.Addr().As16()
		msg = append(append(msg, atypIPv6), a[:]...)
	} else {
		var a [4]byte
		if bound != nil && bound.IsValid() {
			a = bound.Addr().Unmap().As4()
		}
		msg = append(append(msg, atypIPv4), a[:]...)
	}
	var port uint16
	if bound != nil {
		port = bound.Port()
	}
	msg = binary.BigEndian.AppendUint16(msg, port)
	_, err := c.Write(msg)
	return err
}
