// SPDX-License-Identifier: MIT

package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Tunnel is the inside of the tunnel as the proxies use it; the netstack
// backend's Net is one.
type Tunnel interface {
	// DialContext opens a connection through the tunnel.
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	// Listen listens for TCP on the interface's addresses.
	Listen(network, address string) (net.Listener, error)
	// ListenPacket opens a UDP socket on the interface's addresses.
	ListenPacket(network, address string) (net.PacketConn, error)
	// LookupNetIP resolves a name with the tunnel's DNS servers.
	LookupNetIP(ctx context.Context, host string) ([]netip.Addr, error)
}

// Defaults of Options.
const (
	// DefaultMaxConns bounds each server's connections: with two 16 KiB
	// relay buffers each, 32 MiB at most.
	DefaultMaxConns = 1024
	// DefaultHandshakeTimeout is generous for a person typing a password
	// into a client and short for a connection that never speaks.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultDialTimeout covers a DNS lookup and a TCP handshake through
	// the tunnel, including a WireGuard handshake first.
	DefaultDialTimeout = 15 * time.Second
	// DefaultUDPIdleTimeout ends a UDP forward's flow, as a NAT would.
	DefaultUDPIdleTimeout = 2 * time.Minute
	// DefaultMaxUDPFlows bounds the clients of one UDP forward.
	DefaultMaxUDPFlows = 256
)

// Options are shared by every server.
type Options struct {
	// Tunnel is where connections go or come from.
	Tunnel Tunnel
	// Routes reports whether the tunnel has a peer for an address; a
	// destination it rejects is refused. nil allows every address.
	Routes func(netip.Addr) bool
	// Logger receives connection-level messages at debug level and
	// failures of a whole server at error level; nil discards them.
	Logger *slog.Logger
	// MaxConns bounds the connections each server holds at once;
	// DefaultMaxConns when 0.
	MaxConns int
	// HandshakeTimeout bounds the proxy protocol exchange before data
	// flows; DefaultHandshakeTimeout when 0.
	HandshakeTimeout time.Duration
	// DialTimeout bounds name resolution plus connection set-up;
	// DefaultDialTimeout when 0.
	DialTimeout time.Duration
	// UDPIdleTimeout ends a UDP forward's flow after this long without a
	// datagram; DefaultUDPIdleTimeout when 0.
	UDPIdleTimeout time.Duration
	// MaxUDPFlows bounds the client addresses one UDP forward tracks;
	// DefaultMaxUDPFlows when 0.
	MaxUDPFlows int
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.UDPIdleTimeout <= 0 {
		o.UDPIdleTimeout = DefaultUDPIdleTimeout
	}
	if o.MaxUDPFlows <= 0 {
		o.MaxUDPFlows = DefaultMaxUDPFlows
	}
}

// Errors a dial into the tunnel can end with, for the proxies to map to
// their protocol's reply codes.
var (
	// ErrNotRouted is a destination outside every peer's allowed IPs.
	ErrNotRouted = errors.New("destination is outside the tunnel's allowed IPs")
	// ErrResolve wraps a failed name lookup.
	ErrResolve = errors.New("cannot resolve")
)

// dialTunnel connects to host:port through the tunnel, resolving a name
// with the tunnel's DNS servers and trying only the addresses a peer
// takes.
func dialTunnel(ctx context.Context, o *Options, network, host string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	addrs, err := o.Tunnel.LookupNetIP(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrResolve, host, err)
	}
	var firstErr error
	for _, a := range addrs {
		if o.Routes != nil && !o.Routes(a) {
			continue
		}
		c, err := o.Tunnel.DialContext(ctx, network, netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		return nil, fmt.Errorf("%s: %w", host, ErrNotRouted)
	}
	return nil, firstErr
}

// splitTarget splits "host:port" with a numeric port.
func splitTarget(s string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("%q is not host:port", s)
	}
	return host, uint16(p), nil
}

// server accepts connections on ln and runs handle for each, at most max
// at once; a connection beyond that is closed at once, so that a flood
// costs a file descriptor for a moment and nothing more.
type server struct {
	name    string
	ln      net.Listener
	handle  func(net.Conn)
	log     *slog.Logger
	sem     chan struct{}
	refused atomic.Uint64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newServer(name string, ln net.Listener, max int, log *slog.Logger, handle func(net.Conn)) *server {
	return &server{name: name, ln: ln, handle: handle, log: log, sem: make(chan struct{}, max), conns: map[net.Conn]struct{}{}}
}

// Addr is the address the server listens on.
func (s *server) Addr() net.Addr { return s.ln.Addr() }

func (s *server) serve() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return
			}
			// Out of file descriptors, most likely: wait it out.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("Accept failed", "server", s.name, "err", err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		select {
		case s.sem <- struct{}{}:
		default:
			if n := s.refused.Add(1); n&(n-1) == 0 {
				// Logged at 1, 2, 4, 8, ... refusals.
				s.log.Warn("Too many connections, refusing", "server", s.name, "refused", s.refused.Load())
			}
			c.Close()
			continue
		}
		if !s.track(c) {
			c.Close()
			<-s.sem
			return
		}
		go func() {
			defer func() {
				s.untrack(c)
				<-s.sem
				s.wg.Done()
			}()
			s.handle(c)
		}()
	}
}

func (s *server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops accepting, ends every connection and waits for the
// handlers.
func (s *server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *server) start() {
	s.wg.Add(1)
	go s.serve()
}

// bufPool holds relay buffers, so that connections coming and going reuse
// them instead of allocating two per connection. A relaying connection
// holds its two for its life: at most 32 KiB times MaxConns per server.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// relay copies both ways until both directions end, passing a half close
// on, and closes both connections.
func relay(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		pipe(b, a)
		close(done)
	}()
	pipe(a, b)
	<-done
	a.Close()
	b.Close()
}

// pipe copies src to dst. At the end of src it half-closes dst so that the
// other direction can still finish; on an error it closes both so that the
// other direction ends too.
func pipe(dst, src net.Conn) {
	buf := bufPool.Get().(*[]byte)
	_, err := io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *buf)
	bufPool.Put(buf)
	if err != nil {
		dst.Close()
		src.Close()
		return
	}
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := dst.(closeWriter); ok {
		cw.CloseWrite()
	} else {
		dst.Close()
	}
}
