// SPDX-License-Identifier: MIT

package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// TCPForward is a fixed TCP port forward: TCPClientTunnel (a host port to
// a target in the tunnel) or TCPServerTunnel (a tunnel port to a target
// on the host).
type TCPForward struct {
	srv *server
}

// Addr is the address the forward listens on.
func (f *TCPForward) Addr() net.Addr { return f.srv.Addr() }

// Close stops the forward and ends its connections.
func (f *TCPForward) Close() error { return f.srv.Close() }

// ForwardTCPIn listens on the host address bind and connects each client
// to target ("host:port") through the tunnel; a name is resolved with the
// tunnel's DNS servers, for each connection, so that a changed record is
// followed.
func ForwardTCPIn(bind, target string, o Options) (*TCPForward, error) {
	o.fill()
	host, port, err := splitTarget(target)
	if err != nil {
		return nil, fmt.Errorf("TCPClientTunnel: %w", err)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("TCPClientTunnel: %w", err)
	}
	f := &TCPForward{}
	f.srv = newServer("tcp-client-tunnel", ln, o.MaxConns, o.Logger, func(c net.Conn) {
		up, err := dialTunnel(context.Background(), &o, "tcp", host, port)
		if err != nil {
			o.Logger.Debug("TCPClientTunnel: connect failed", "target", target, "err", err)
			return
		}
		relay(c, up)
	})
	f.srv.start()
	return f, nil
}

// ForwardTCPOut listens on port of every tunnel address and connects each
// peer's connection to target on the host, resolved by the host.
func ForwardTCPOut(port uint16, target string, o Options) (*TCPForward, error) {
	o.fill()
	if _, _, err := splitTarget(target); err != nil {
		return nil, fmt.Errorf("TCPServerTunnel: %w", err)
	}
	ln, err := o.Tunnel.Listen("tcp", ":"+strconv.Itoa(int(port)))
	if err != nil {
		return nil, fmt.Errorf("TCPServerTunnel: %w", err)
	}
	f := &TCPForward{}
	d := net.Dialer{Timeout: o.DialTimeout}
	f.srv = newServer("tcp-server-tunnel", ln, o.MaxConns, o.Logger, func(c net.Conn) {
		down, err := d.Dial("tcp", target)
		if err != nil {
			o.Logger.Debug("TCPServerTunnel: connect failed", "target", target, "err", err)
			return
		}
		relay(c, down)
	})
	f.srv.start()
	return f, nil
}

// STDIO connects in and out (a process's standard input and output) to
// target through the tunnel, as an ssh ProxyCommand wants, and returns
// when both directions are done.
func STDIO(ctx context.Context, in io.Reader, out io.Writer, target string, o Options) error {
	o.fill()
	host, port, err := splitTarget(target)
	if err != nil {
		return fmt.Errorf("STDIOTunnel: %w", err)
	}
	c, err := dialTunnel(ctx, &o, "tcp", host, port)
	if err != nil {
		return fmt.Errorf("STDIOTunnel: %w", err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, in)
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		done <- err
	}()
	_, err = io.Copy(out, c)
	select {
	case <-done:
	case <-time.After(time.Second):
		// Input still open after the target closed: nothing more to do.
	}
	return err
}
