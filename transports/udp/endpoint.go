// SPDX-License-Identifier: MIT

package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/wgplex/wgplex/core"
)

// ErrBadEndpoint is returned (wrapped) by ParseEndpoint for input that is not
// an IP literal with a port.
var ErrBadEndpoint = errors.New("udp: bad endpoint")

// Endpoint is a peer's UDP address plus the sticky source: the local address
// (and, for IPv6 link-local sources, the interface) that a reply should leave
// from. The remote address and the source are fixed at creation; ClearSrc
// only raises a flag, so an Endpoint may be shared between goroutines without
// locking. See the package documentation for who owns an Endpoint.
type Endpoint struct {
	dst     netip.AddrPort
	src     netip.Addr
	ifindex int32
	// srcCleared is set by ClearSrc. It is a flag instead of a write to src
	// so that a sender reading the endpoint concurrently never sees a torn
	// netip.Addr.
	srcCleared atomic.Bool
	// routeMemo is the last answer of the route watcher (route_linux.go)
	// on whether the sticky source still fits the route to dst, with the
	// generation of the routing table it came from; 0 for none.
	routeMemo atomic.Uint64
}

var _ core.Endpoint = (*Endpoint)(nil)

// NewEndpoint returns an endpoint for dst that sticks to the local source
// address src (the zero Addr lets the kernel choose) and interface ifindex
// (0 for any). An IPv4-mapped IPv6 dst or src is stored as IPv4, because the
// Bind keeps separate IPv4 and IPv6 sockets.
func NewEndpoint(dst netip.AddrPort, src netip.Addr, ifindex int) *Endpoint {
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	return &Endpoint{dst: dst, src: src.Unmap(), ifindex: int32(ifindex)}
}

// ParseEndpoint parses "1.2.3.4:51820" or "[fd00::1]:51820" (an IP literal,
// optionally with an IPv6 zone, and a port). Host names are rejected: the
// engine resolves names before it gets here, as wg(8) does.
func ParseEndpoint(s string) (*Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadEndpoint, s, err)
	}
	return NewEndpoint(ap, netip.Addr{}, 0), nil
}

// DstAddrPort returns the remote address.
func (e *Endpoint) DstAddrPort() netip.AddrPort { return e.dst }

// SrcAddr returns the sticky local source, or the zero Addr when there is
// none or it was cleared.
func (e *Endpoint) SrcAddr() netip.Addr {
	if e.srcCleared.Load() {
		return netip.Addr{}
	}
	return e.src
}

// SrcIfindex returns the interface index the sticky source was learnt on,
// or 0 when there is none or it was cleared.
func (e *Endpoint) SrcIfindex() int {
	if e.srcCleared.Load() {
		return 0
	}
	return int(e.ifindex)
}

// ClearSrc forgets the sticky source for good; later sends let the kernel
// pick the source address.
func (e *Endpoint) ClearSrc() { e.srcCleared.Store(true) }

// String formats the remote address as wg(8) shows it.
func (e *Endpoint) String() string { return e.dst.String() }

// epKey identifies a received datagram's endpoint in a receive cache.
type epKey struct {
	dst     netip.AddrPort
	src     netip.Addr
	ifindex int32
}

// maxCachedEndpoints bounds a receive function's endpoint cache so that a
// flood of spoofed source addresses cannot grow memory without limit. When
// full the cache is simply emptied: endpoints already handed out stay valid.
const maxCachedEndpoints = 1024

// epCache hands out one *Endpoint per (remote, local) pair so that the
// steady-state receive path does not allocate. It is owned by one receive
// function and is not safe for concurrent use.
type epCache struct {
	m map[epKey]*Endpoint
	// last is the endpoint get returned last, for lastKey; it is always
	// also m[lastKey]. Most batches come from one peer, and a key compare
	// is cheaper than a map probe, which on a cold cache touches several
	// lines of table.
	lastKey epKey
	last    *Endpoint
}

// get returns a cached endpoint for k, or a new one. An endpoint whose source
// the engine cleared is replaced, so the next datagram again reports the
// address it actually arrived on.
func (c *epCache) get(k epKey) *Endpoint {
	if ep := c.last; ep != nil && c.lastKey == k && !ep.srcCleared.Load() {
		return ep
	}
	ep, ok := c.m[k]
	if !ok || ep.srcCleared.Load() {
		if c.m == nil {
			c.m = make(map[epKey]*Endpoint)
		}
		if len(c.m) >= maxCachedEndpoints {
			clear(c.m)
		}
		ep = &Endpoint{dst: k.dst, src: k.src, ifindex: k.ifindex}
		c.m[k] = ep
	}
	c.lastKey, c.last = k, ep
	return ep
}
