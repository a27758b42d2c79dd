// SPDX-License-Identifier: MIT

//go:build darwin || freebsd || netbsd || openbsd

package udp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// openRetries bounds how often Open(0) tries again when the port the kernel
// picked for IPv4 cannot be had for IPv6.
const openRetries = 4

// ErrAlreadyOpen is returned by Open on a Bind that is open; Close it first.
var ErrAlreadyOpen = errors.New("udp: bind already open")

// ErrMarkUnsupported is returned by SetMark for a non-zero mark on systems
// without a firewall-mark equivalent (NetBSD, macOS).
var ErrMarkUnsupported = errors.New("udp: firewall mark not supported on this system")

// hostOpts is this system's choice of options; see sockOptsFor.
var hostOpts = sockOptsFor(runtime.GOOS)

// Compile-time checks that the shared numbers in sockopts.go are this
// system's: each pair of conversions is valid only when they are equal.
const (
	_ = uint(unix.SOL_SOCKET - levelSocket)
	_ = uint(levelSocket - unix.SOL_SOCKET)
	_ = uint(unix.IPPROTO_IPV6 - levelIPv6)
	_ = uint(levelIPv6 - unix.IPPROTO_IPV6)
	_ = uint(unix.IPV6_PKTINFO - ipv6Pktinfo)
	_ = uint(ipv6Pktinfo - unix.IPV6_PKTINFO)
	_ = uint(unix.IP_RECVDSTADDR - ipRecvDstAddr)
	_ = uint(ipRecvDstAddr - unix.IP_RECVDSTADDR)
)

// oobSize holds the one control message a receive expects.
var oobSize = unix.CmsgSpace(sizeofIn6Pktinfo)

// Bind is the UDP transport of the BSDs and macOS: one IPv4 and one IPv6
// net.UDPConn on the same port, one datagram per system call, with the
// sticky source and the firewall-mark equivalent each system offers (see
// sockOptsFor). The zero value is not usable; call NewBind.
type Bind struct {
	mu   sync.RWMutex
	v4   *net.UDPConn
	v6   *net.UDPConn
	mark uint32
}

var _ core.Bind = (*Bind)(nil)

// NewBind returns a closed Bind; Open starts it.
func NewBind() *Bind { return &Bind{} }

// BatchSize is 1: one datagram per call.
func (b *Bind) BatchSize() int { return 1 }

// ParseEndpoint parses an IP literal with a port; see the package function.
func (b *Bind) ParseEndpoint(s string) (core.Endpoint, error) {
	ep, err := ParseEndpoint(s)
	if err != nil {
		return nil, err
	}
	return ep, nil
}

// Open listens on port for IPv4 and IPv6. Port 0 lets the system pick a
// port for IPv4 and then takes the same one for IPv6. A host without IPv6
// gets a Bind with IPv4 only.
func (b *Bind) Open(port uint16) ([]core.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, ErrAlreadyOpen
	}
	for try := 0; ; try++ {
		v4, err := listen(false, port, b.mark)
		if err != nil {
			return nil, 0, err
		}
		actual := uint16(v4.LocalAddr().(*net.UDPAddr).Port)
		v6, err := listen(true, actual, b.mark)
		if err != nil && port == 0 && errors.Is(err, unix.EADDRINUSE) && try < openRetries {
			v4.Close()
			continue
		}
		b.v4 = v4
		fns := []core.ReceiveFunc{newReceiver(v4, false).receive}
		if err == nil {
			b.v6 = v6
			fns = append(fns, newReceiver(v6, true).receive)
		}
		return fns, actual, nil
	}
}

// listen opens one socket with its options set before bind, so that no
// datagram arrives without its destination address.
func listen(is6 bool, port uint16, mark uint32) (*net.UDPConn, error) {
	network, addr := "udp4", fmt.Sprintf("0.0.0.0:%d", port)
	if is6 {
		network, addr = "udp6", fmt.Sprintf("[::]:%d", port)
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setSockopts(int(fd), is6, mark) }); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// setSockopts turns on destination-address reporting and sets the mark.
func setSockopts(fd int, is6 bool, mark uint32) error {
	switch {
	case is6 && hostOpts.v6:
		if err := unix.SetsockoptInt(fd, levelIPv6, hostOpts.v6RecvOpt, 1); err != nil {
			return fmt.Errorf("udp: enable IPv6 packet info: %w", err)
		}
	case !is6 && hostOpts.v4Format != formatNone:
		if err := unix.SetsockoptInt(fd, levelIP, hostOpts.v4RecvOpt, 1); err != nil {
			return fmt.Errorf("udp: enable IPv4 destination address: %w", err)
		}
	}
	if mark != 0 {
		return setMark(fd, mark)
	}
	return nil
}

func setMark(fd int, mark uint32) error {
	if hostOpts.markOpt == 0 {
		if mark == 0 {
			return nil
		}
		return ErrMarkUnsupported
	}
	if err := unix.SetsockoptInt(fd, levelSocket, hostOpts.markOpt, int(mark)); err != nil {
		return fmt.Errorf("udp: set mark: %w", err)
	}
	return nil
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

// SetMark sets the firewall-mark equivalent on both sockets and keeps it
// for the next Open: FreeBSD's SO_USER_COOKIE, OpenBSD's SO_RTABLE (the
// mark is the routing table). Elsewhere only 0 is accepted.
func (b *Bind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if hostOpts.markOpt == 0 {
		return setMark(-1, mark)
	}
	for _, c := range []*net.UDPConn{b.v4, b.v6} {
		if c == nil {
			continue
		}
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setMark(int(fd), mark) }); err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
	}
	b.mark = mark
	return nil
}

// Send sends each buffer as one datagram to ep, in order, from ep's sticky
// source where the system supports one. If the kernel refuses the source
// (the address went away), it is cleared on ep and the rest is sent
// without it.
func (b *Bind) Send(bufs [][]byte, ep core.Endpoint) error {
	b.mu.RLock()
	c, dst, err := socketFor(b.v4, b.v6, ep.DstAddrPort())
	b.mu.RUnlock()
	if err != nil {
		return err
	}
	is6 := !dst.Addr().Is4()
	oob := sourceOOB(ep, is6)
	for i, buf := range bufs {
		_, _, err := c.WriteMsgUDPAddrPort(buf, oob, dst)
		if err != nil && oob != nil && stickySourceFailed(err) {
			ep.ClearSrc()
			oob = nil
			_, _, err = c.WriteMsgUDPAddrPort(buf, nil, dst)
		}
		if err != nil {
			return fmt.Errorf("udp: send datagram %d of %d to %v: %w", i+1, len(bufs), dst, err)
		}
	}
	return nil
}

// sourceOOB builds the control message that sets ep's sticky source, or
// nil when there is none or the system cannot set one.
func sourceOOB(ep core.Endpoint, is6 bool) []byte {
	src := ep.SrcAddr()
	if !src.IsValid() || src.Is4() == is6 {
		return nil
	}
	if is6 {
		if !hostOpts.v6 {
			return nil
		}
		ifindex := 0
		if e, ok := ep.(*Endpoint); ok {
			ifindex = e.SrcIfindex()
		}
		return cmsg(levelIPv6, hostOpts.v6Type, encodeV6Src(src, ifindex))
	}
	if hostOpts.v4Format == formatNone {
		return nil
	}
	return cmsg(levelIP, hostOpts.v4SendType, hostOpts.encodeV4Src(src))
}

// cmsg frames one control message the way this system's kernel reads it.
func cmsg(level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	// b comes from make, so it is aligned for the header.
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = int32(level)
	h.Type = int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}

// stickySourceFailed reports whether a send error may be caused by the
// source address, so that a retry without it may work.
func stickySourceFailed(err error) bool {
	return errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EADDRNOTAVAIL) ||
		errors.Is(err, unix.ENETUNREACH) ||
		errors.Is(err, unix.EHOSTUNREACH)
}

// receiver is the state of one receive function.
type receiver struct {
	mu    sync.Mutex
	conn  *net.UDPConn
	is6   bool
	oob   []byte
	cache epCache
}

func newReceiver(c *net.UDPConn, is6 bool) *receiver {
	return &receiver{conn: c, is6: is6, oob: make([]byte, oobSize)}
}

// receive is the core.ReceiveFunc of one socket: one datagram per call,
// with the local address it was sent to as the endpoint's sticky source.
func (r *receiver) receive(packets [][]byte, sizes, segs []int, eps []core.Endpoint) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(packets) == 0 || len(sizes) == 0 || len(segs) == 0 || len(eps) == 0 {
		return 0, nil
	}
	n, oobn, _, from, err := r.conn.ReadMsgUDPAddrPort(packets[0], r.oob)
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, net.ErrClosed
		}
		return 0, err
	}
	k := epKey{dst: netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}
	k.src, k.ifindex = r.localAddr(r.oob[:oobn])
	sizes[0], segs[0] = n, 0
	eps[0] = r.cache.get(k)
	return 1, nil
}

// localAddr finds the datagram's destination address in its control
// messages.
func (r *receiver) localAddr(oob []byte) (netip.Addr, int32) {
	if len(oob) == 0 {
		return netip.Addr{}, 0
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, 0
	}
	for _, m := range msgs {
		var (
			a  netip.Addr
			ix int
			ok bool
		)
		switch {
		case r.is6 && hostOpts.v6 && m.Header.Level == levelIPv6 && int(m.Header.Type) == hostOpts.v6Type:
			a, ix, ok = decodeV6Dst(m.Data)
		case !r.is6 && hostOpts.v4Format != formatNone && m.Header.Level == levelIP && int(m.Header.Type) == hostOpts.v4RecvType:
			a, ix, ok = hostOpts.decodeV4Dst(m.Data)
		}
		if ok && a.IsValid() && !a.IsMulticast() && !a.IsUnspecified() {
			return a.Unmap(), int32(ix)
		}
	}
	return netip.Addr{}, 0
}
