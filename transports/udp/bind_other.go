// SPDX-License-Identifier: MIT

//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd

package udp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/wgplex/wgplex/core"
)

// openRetries bounds how often Open(0) tries again when the port the kernel
// picked for IPv4 cannot be had for IPv6.
const openRetries = 4

// ErrAlreadyOpen is returned by Open on a Bind that is open; Close it first.
var ErrAlreadyOpen = errors.New("udp: bind already open")

// ErrMarkUnsupported is returned by SetMark for a non-zero mark on systems
// where this package does not implement firewall marks.
var ErrMarkUnsupported = errors.New("udp: firewall mark not supported on this system")

// Bind is the portable UDP transport: one IPv4 and one IPv6 net.UDPConn on
// the same port, one datagram per system call, no sticky source and no
// firewall mark. Operating systems with their own backend replace it. The
// zero value is not usable; call NewBind.
type Bind struct {
	mu sync.RWMutex
	v4 *net.UDPConn
	v6 *net.UDPConn
}

var _ core.Bind = (*Bind)(nil)

// NewBind returns a closed Bind; Open starts it.
func NewBind() *Bind { return &Bind{} }

// BatchSize is 1: the portable path reads one datagram per call.
func (b *Bind) BatchSize() int { return 1 }

// ParseEndpoint parses an IP literal with a port; see the package function.
func (b *Bind) ParseEndpoint(s string) (core.Endpoint, error) {
	ep, err := ParseEndpoint(s)
	if err != nil {
		return nil, err
	}
	return ep, nil
}

// Open listens on port for IPv4 and IPv6. Port 0 lets the system pick a port
// for IPv4 and then takes the same one for IPv6. If IPv6 cannot be opened on
// that port the Bind carries on with IPv4 only: this fallback cannot tell a
// missing IPv6 stack from other errors portably.
func (b *Bind) Open(port uint16) ([]core.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, ErrAlreadyOpen
	}
	for try := 0; ; try++ {
		v4, err := net.ListenUDP("udp4", &net.UDPAddr{Port: int(port)})
		if err != nil {
			return nil, 0, err
		}
		actual := uint16(v4.LocalAddr().(*net.UDPAddr).Port)
		v6, err := net.ListenUDP("udp6", &net.UDPAddr{Port: int(actual)})
		if err != nil && port == 0 && try < openRetries {
			v4.Close()
			continue
		}
		b.v4 = v4
		fns := []core.ReceiveFunc{newReceiver(v4).receive}
		if err == nil {
			b.v6 = v6
			fns = append(fns, newReceiver(v6).receive)
		}
		return fns, actual, nil
	}
}

// Close closes both sockets; blocked receive functions return net.ErrClosed.
func (b *Bind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	b.v4, b.v6 = nil, nil
	return errors.Join(errs...)
}

// SetMark accepts only 0 here.
func (b *Bind) SetMark(mark uint32) error {
	if mark != 0 {
		return ErrMarkUnsupported
	}
	return nil
}

// Send sends each buffer as one datagram to ep, in order. The sticky source
// of ep is ignored.
func (b *Bind) Send(bufs [][]byte, ep core.Endpoint) error {
	b.mu.RLock()
	c, dst, err := socketFor(b.v4, b.v6, ep.DstAddrPort())
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	for _, buf := range bufs {
		if _, err := c.WriteToUDPAddrPort(buf, dst); err != nil {
			return fmt.Errorf("udp: send to %v: %w", dst, err)
		}
	}
	return nil
}

// receiver is the state of one receive function.
type receiver struct {
	mu    sync.Mutex
	conn  *net.UDPConn
	cache epCache
}

func newReceiver(c *net.UDPConn) *receiver { return &receiver{conn: c} }

// receive is the core.ReceiveFunc of one socket: one datagram per call.
func (r *receiver) receive(packets [][]byte, sizes, segs []int, eps []core.Endpoint) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(packets) == 0 || len(sizes) == 0 || len(segs) == 0 || len(eps) == 0 {
		return 0, nil
	}
	n, from, err := r.conn.ReadFromUDPAddrPort(packets[0])
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, net.ErrClosed
		}
		return 0, err
	}
	sizes[0], segs[0] = n, 0
	eps[0] = r.cache.get(epKey{dst: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())})
	return 1, nil
}

// Offloads reports the UDP offloads in use: none on this system.
func (b *Bind) Offloads() map[string]bool {
	return map[string]bool{"udp_gso": false, "udp_gro": false}
}
