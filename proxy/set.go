// SPDX-License-Identifier: MIT

package proxy

import (
	"fmt"
	"io"
	"net"

	"github.com/wgplex/wgplex/proxy/proxyconf"
)

// Set is every server a configuration file asks for.
type Set struct {
	closers []io.Closer
	addrs   []Listening
	creds   []*Credentials
}

// Listening names one server and the address it listens on.
type Listening struct {
	Kind string // "socks5", "http", "tcp-client-tunnel", ...
	Addr net.Addr
}

// Start starts the servers of f's proxy sections. Either all start or
// none is left running. The passwords are copied; f may be wiped.
func Start(f *proxyconf.File, o Options) (*Set, error) {
	s := &Set{}
	fail := func(err error) (*Set, error) {
		s.Close()
		return nil, err
	}
	add := func(kind string, c io.Closer, a net.Addr) {
		s.closers = append(s.closers, c)
		s.addrs = append(s.addrs, Listening{Kind: kind, Addr: a})
	}
	cred := func(p proxyconf.Proxy) Credentials {
		c := &Credentials{Username: p.Username, Password: append([]byte(nil), p.Password...)}
		s.creds = append(s.creds, c)
		return *c
	}
	for _, p := range f.Socks5 {
		srv, err := ListenSocks5(p.BindAddress, cred(p), o)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: [Socks5]: %w", f.Name, p.Line, err))
		}
		add("socks5", srv, srv.Addr())
	}
	for _, p := range f.HTTP {
		srv, err := ListenHTTP(p.BindAddress, cred(p), o)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: [http]: %w", f.Name, p.Line, err))
		}
		add("http", srv, srv.Addr())
	}
	for _, t := range f.TCPClientTunnels {
		srv, err := ForwardTCPIn(t.BindAddress, t.Target, o)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", f.Name, t.Line, err))
		}
		add("tcp-client-tunnel", srv, srv.Addr())
	}
	for _, t := range f.TCPServerTunnels {
		srv, err := ForwardTCPOut(t.ListenPort, t.Target, o)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", f.Name, t.Line, err))
		}
		add("tcp-server-tunnel", srv, srv.Addr())
	}
	for _, t := range f.UDPClientTunnels {
		srv, err := ForwardUDPIn(t.BindAddress, t.Target, o)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", f.Name, t.Line, err))
		}
		add("udp-client-tunnel", srv, srv.Addr())
	}
	for _, t := range f.UDPServerTunnels {
		srv, err := ForwardUDPOut(t.ListenPort, t.Target, o)
		if err != nil {
			return fail(fmt.Errorf("%s:%d: %w", f.Name, t.Line, err))
		}
		add("udp-server-tunnel", srv, srv.Addr())
	}
	return s, nil
}

// Listening lists the servers in start order.
func (s *Set) Listening() []Listening { return append([]Listening(nil), s.addrs...) }

// Close stops every server, in reverse start order, and wipes the
// passwords.
func (s *Set) Close() error {
	var first error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	for _, c := range s.creds {
		c.Wipe()
	}
	return first
}
