// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// batchSize is how many datagrams one recvmmsg or sendmmsg call moves.
const batchSize = 128

// socketBuffer is the receive and send buffer size asked for. A burst of
// batches from many peers overruns the kernel default (about 200 KiB) long
// before the engine falls behind on average.
const socketBuffer = 7 << 20

// openRetries bounds how often Open(0) tries again when the port the kernel
// picked for IPv4 is already taken for IPv6.
const openRetries = 16

// ErrAlreadyOpen is returned by Open on a Bind that is open; Close it first.
var ErrAlreadyOpen = errors.New("udp: bind already open")

// Bind is the Linux UDP transport: one IPv4 and one IPv6 socket on the same
// port, batched with recvmmsg/sendmmsg, with UDP GSO and GRO where the
// kernel has them, sticky source addresses and SO_MARK. The zero value is not usable; call NewBind.
type Bind struct {
	// mu guards the socket pointers and mark. Send only holds it to pick a
	// socket, never across a system call, so Close cannot wait on a send
	// stuck behind a full socket buffer.
	mu   sync.RWMutex
	v4   *sock
	v6   *sock
	mark uint32
	// routes re-evaluates sticky sources when routing changes (nil if
	// rtnetlink is unavailable: sources are then only dropped when a send
	// fails). curMark mirrors mark for its goroutines, which must not take
	// mu (Close holds it while they stop).
	routes  *routeWatch
	curMark atomic.Uint32
	opts    Options // offloads switched off, fixed at creation
}

var _ core.Bind = (*Bind)(nil)

// NewBind returns a closed Bind; Open starts it.
func NewBind() *Bind { return &Bind{} }

// NewBindWithOptions is NewBind with offloads switched off as o says.
func NewBindWithOptions(o Options) *Bind { return &Bind{opts: o} }

// BatchSize is the most datagrams a receive function fills, or Send passes
// to the kernel, per system call.
func (b *Bind) BatchSize() int { return batchSize }

// ParseEndpoint parses an IP literal with a port; see the package function.
func (b *Bind) ParseEndpoint(s string) (core.Endpoint, error) {
	ep, err := ParseEndpoint(s)
	if err != nil {
		return nil, err
	}
	return ep, nil
}

// Open listens on port for IPv4 and IPv6 and returns one receive function
// per socket. Port 0 lets the kernel pick a port for IPv4 and then takes the
// same port for IPv6. A host without IPv6 (or without IPv4) gets a Bind with
// just the other family.
func (b *Bind) Open(port uint16) ([]core.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, ErrAlreadyOpen
	}
	var (
		v4, v6 *sock
		actual uint16
		err    error
	)
	for try := 0; ; try++ {
		v4, v6, actual, err = listenBoth(port, b.mark, b.opts)
		// Another process may own the port the kernel gave us for IPv4 on
		// IPv6 only; with a port of our own choosing, try another.
		if err != nil && port == 0 && errors.Is(err, unix.EADDRINUSE) && try < openRetries {
			continue
		}
		break
	}
	if err != nil {
		return nil, 0, err
	}
	if !b.opts.NoHandshakeSocket {
		for _, s := range []*sock{v4, v6} {
			// Without the companion (an old kernel) handshake messages
			// share the data socket, as they always did.
			if s != nil {
				_ = addHandshakeSocket(s, b.mark, b.opts)
			}
		}
	}
	b.v4, b.v6 = v4, v6
	// Opened here, on the caller's thread, so that it watches the network
	// namespace the sockets are in. Without it the Bind still works.
	if w, err := newRouteWatch(func() uint32 { return b.curMark.Load() }); err == nil {
		b.routes = w
	}
	var fns []core.ReceiveFunc
	for _, s := range []*sock{v4, v6} {
		if s != nil {
			fns = append(fns, newReceiver(s).receive)
			if s.hs != nil {
				fns = append(fns, newReceiver(s.hs).receive)
			}
		}
	}
	return fns, actual, nil
}

// listenBoth opens the IPv4 socket and then the IPv6 one on the same port.
func listenBoth(port uint16, mark uint32, opts Options) (v4, v6 *sock, actual uint16, err error) {
	v4, err = listen(false, port, mark, opts, false)
	switch {
	case err == nil:
		port = v4.port
	case familyUnavailable(err):
		v4 = nil
	default:
		return nil, nil, 0, err
	}
	v6, err = listen(true, port, mark, opts, false)
	switch {
	case err == nil:
		port = v6.port
	case familyUnavailable(err) && v4 != nil:
		v6 = nil
	default:
		if v4 != nil {
			v4.conn.Close()
		}
		return nil, nil, 0, err
	}
	return v4, v6, port, nil
}

// familyUnavailable reports whether err means the address family is missing
// on this host (IPv6 disabled by boot option or sysctl), which Open treats
// as "carry on with the other family" rather than as a failure.
func familyUnavailable(err error) bool {
	return errors.Is(err, unix.EAFNOSUPPORT) ||
		errors.Is(err, unix.EPROTONOSUPPORT) ||
		errors.Is(err, unix.EADDRNOTAVAIL)
}

// listen opens one socket of the family on port with every option set
// before bind, so that no datagram arrives without packet info; reuse
// sets SO_REUSEPORT too (the handshake socket, hsock_linux.go).
func listen(is6 bool, port uint16, mark uint32, opts Options, reuse bool) (*sock, error) {
	network, addr := "udp4", fmt.Sprintf("0.0.0.0:%d", port)
	if is6 {
		// Go sets IPV6_V6ONLY for "udp6", which is what lets the IPv4
		// socket share the port.
		network, addr = "udp6", fmt.Sprintf("[::]:%d", port)
	}
	var gso, gro bool
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			if serr = setSockopts(int(fd), is6, mark); serr == nil && reuse {
				serr = reusePort(int(fd), true)
			}
			if serr == nil {
				gso, gro = probeOffloads(int(fd), opts)
			}
		}); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	rc, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	la, _ := netip.ParseAddrPort(conn.LocalAddr().String())
	s := &sock{conn: conn, rc: rc, is6: is6, port: la.Port(), gro: gro}
	s.gso.Store(gso)
	s.pool.New = func() any { return newSendBatch() }
	return s, nil
}

// setSockopts sets the socket buffers, packet info on receive and the mark.
func setSockopts(fd int, is6 bool, mark uint32) error {
	// The FORCE variants ignore rmem_max/wmem_max but need CAP_NET_ADMIN;
	// without it, take whatever the sysctl limits allow.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuffer)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuffer)
	}
	var err error
	if is6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
	} else {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
	}
	if err != nil {
		return fmt.Errorf("udp: enable packet info: %w", err)
	}
	// UDP_GRO and UDP_SEGMENT: probeOffloads, after these.
	if mark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return fmt.Errorf("udp: set SO_MARK: %w", err)
		}
	}
	return nil
}

// Close closes both sockets; blocked receive functions return net.ErrClosed.
// Closing a closed Bind does nothing.
func (b *Bind) Close() error {
	b.mu.Lock()
	w := b.routes
	b.routes = nil
	defer func() {
		b.mu.Unlock()
		if w != nil {
			w.close()
		}
	}()
	var errs []error
	for _, s := range []*sock{b.v4, b.v6} {
		if s != nil {
			errs = append(errs, s.conn.Close())
			if s.hs != nil {
				errs = append(errs, s.hs.conn.Close())
			}
		}
	}
	b.v4, b.v6 = nil, nil
	return errors.Join(errs...)
}

// hsOf returns s's handshake socket, or nil.
func hsOf(s *sock) *sock {
	if s == nil {
		return nil
	}
	return s.hs
}

// SetMark sets SO_MARK on both sockets (0 clears it) and remembers it for
// the next Open. Setting a mark needs CAP_NET_ADMIN.
func (b *Bind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range []*sock{b.v4, b.v6, hsOf(b.v4), hsOf(b.v6)} {
		if s == nil {
			continue
		}
		var serr error
		err := s.rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("udp: set SO_MARK: %w", err)
		}
	}
	b.mark = mark
	b.curMark.Store(mark)
	if b.routes != nil {
		// The mark decides policy routing: look the routes up again.
		b.routes.poke()
	}
	return nil
}

// Send sends each buffer as one datagram to ep, in order, with as few
// sendmmsg calls as the batch size allows. A sticky source is left out
// while the route to ep leaves through another interface than the one the
// source was learnt on (route_linux.go), as the kernel does. If the kernel
// refuses the source (the address went away), the source is cleared on ep
// and the batch is sent once more without it.
func (b *Bind) Send(bufs [][]byte, ep core.Endpoint) error {
	b.mu.RLock()
	s, dst, err := socketFor(b.v4, b.v6, ep.DstAddrPort())
	routes := b.routes
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	src, ifindex := ep.SrcAddr(), int32(0)
	var memo *atomic.Uint64
	if e, ok := ep.(*Endpoint); ok {
		ifindex = int32(e.SrcIfindex())
		memo = &e.routeMemo
	}
	if src.Is4() == s.is6 {
		// A source of the other family cannot be used on this socket.
		src, ifindex = netip.Addr{}, 0
	}
	if src.IsValid() && routes != nil && !routes.keepSource(ep.DstAddrPort().Addr().Unmap(), ifindex, memo) {
		src, ifindex = netip.Addr{}, 0
	}
	sent, err := s.send(bufs, dst, src, ifindex)
	if err != nil && src.IsValid() && stickySourceFailed(err) {
		// Only the datagrams the kernel refused are sent again.
		ep.ClearSrc()
		_, err = s.send(bufs[sent:], dst, netip.Addr{}, 0)
	}
	return err
}

// stickySourceFailed reports whether a send error may be caused by the
// source address in the packet info, so that a retry without it may work.
func stickySourceFailed(err error) bool {
	return errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EADDRNOTAVAIL) ||
		errors.Is(err, unix.ENETUNREACH) ||
		errors.Is(err, unix.EHOSTUNREACH)
}
