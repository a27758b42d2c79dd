// SPDX-License-Identifier: MIT

package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// HTTP is an HTTP proxy in front of the tunnel: CONNECT for any TCP
// protocol, and plain http:// requests forwarded as a proxy forwards them.
type HTTP struct {
	srv    *http.Server
	ln     net.Listener
	o      Options
	cred   Credentials
	rp     *httputil.ReverseProxy
	tr     *http.Transport
	closed chan struct{}
	done   sync.WaitGroup

	// Connections taken over by CONNECT, which http.Server.Close does not
	// end by itself.
	mu       sync.Mutex
	hijacked map[net.Conn]struct{}
}

// ListenHTTP serves the HTTP proxy on the host address bind.
func ListenHTTP(bind string, cred Credentials, o Options) (*HTTP, error) {
	o.fill()
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("http proxy: %w", err)
	}
	h := &HTTP{o: o, cred: cred, closed: make(chan struct{}), hijacked: map[net.Conn]struct{}{}}
	h.ln = &limitListener{Listener: ln, sem: make(chan struct{}, o.MaxConns), log: o.Logger}
	h.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := splitTarget(addr)
			if err != nil {
				return nil, err
			}
			return dialTunnel(ctx, &h.o, "tcp", host, port)
		},
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
	h.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL = r.In.URL
			r.Out.Host = r.In.Host
		},
		Transport:    h.tr,
		ErrorHandler: h.dialError,
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	h.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.HandshakeTimeout,
		MaxHeaderBytes:    32 << 10,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		h.srv.Serve(h.ln)
	}()
	return h, nil
}

// Addr is the address the proxy listens on.
func (h *HTTP) Addr() net.Addr { return h.ln.Addr() }

// Close stops the proxy and ends its connections, tunnelled ones
// included.
func (h *HTTP) Close() error {
	select {
	case <-h.closed:
		return nil
	default:
	}
	h.mu.Lock()
	close(h.closed)
	for c := range h.hijacked {
		c.Close()
	}
	h.mu.Unlock()
	err := h.srv.Close()
	h.tr.CloseIdleConnections()
	h.done.Wait()
	return err
}

// ServeHTTP answers one proxy request.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cred.required() && !h.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="wgplex"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		h.connect(w, r)
		return
	}
	if !r.URL.IsAbs() || r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "this is a proxy: ask for an absolute http:// URL, or CONNECT", http.StatusBadRequest)
		return
	}
	h.rp.ServeHTTP(w, r)
}

// authorized checks Proxy-Authorization: Basic.
func (h *HTTP) authorized(r *http.Request) bool {
	v := r.Header.Get("Proxy-Authorization")
	scheme, enc, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return false
	}
	defer clear(raw)
	user, pass, ok := cutBytes(raw, ':')
	return ok && h.cred.check(user, pass)
}

func cutBytes(b []byte, sep byte) (before, after []byte, ok bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// statusFor maps a dial failure to an HTTP status.
func statusFor(err error) int {
	switch {
	case errors.Is(err, ErrNotRouted):
		return http.StatusForbidden
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out"):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

func (h *HTTP) dialError(w http.ResponseWriter, r *http.Request, err error) {
	h.o.Logger.Debug("HTTP proxy request failed", "target", r.URL.Host, "err", err)
	http.Error(w, err.Error(), statusFor(err))
}

// connect opens a tunnel for CONNECT host:port.
func (h *HTTP) connect(w http.ResponseWriter, r *http.Request) {
	host, port, err := splitTarget(r.Host)
	if err != nil {
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	up, err := dialTunnel(r.Context(), &h.o, "tcp", host, port)
	if err != nil {
		h.dialError(w, r, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot take over this connection", http.StatusInternalServerError)
		return
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !h.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	defer h.untrack(c, up)
	c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		c.Close()
		up.Close()
		return
	}
	// Bytes the client sent right behind its request are already in the
	// server's buffer.
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		if _, err := up.Write(b); err != nil {
			c.Close()
			up.Close()
			return
		}
	}
	relay(&bufferedConn{Conn: c}, up)
}

// track registers a tunnelled connection pair so that Close can end it;
// it refuses once Close has begun.
func (h *HTTP) track(cs ...net.Conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.closed:
		return false
	default:
	}
	for _, c := range cs {
		h.hijacked[c] = struct{}{}
	}
	h.done.Add(1)
	return true
}

func (h *HTTP) untrack(cs ...net.Conn) {
	h.mu.Lock()
	for _, c := range cs {
		delete(h.hijacked, c)
	}
	h.mu.Unlock()
	h.done.Done()
}

// bufferedConn is a hijacked connection; it exists so that relay's
// CloseWrite reaches the TCP connection underneath.
type bufferedConn struct{ net.Conn }

func (b *bufferedConn) CloseWrite() error {
	if cw, ok := b.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return b.Conn.Close()
}

// limitListener closes connections beyond its limit as they are
// accepted; a slot is freed when its connection closes.
type limitListener struct {
	net.Listener
	sem chan struct{}
	log interface {
		Warn(msg string, args ...any)
	}
	refused uint64
	mu      sync.Mutex
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			l.mu.Lock()
			l.refused++
			n := l.refused
			l.mu.Unlock()
			if n&(n-1) == 0 {
				l.log.Warn("Too many connections, refusing", "server", "http", "refused", n)
			}
			c.Close()
		}
	}
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
