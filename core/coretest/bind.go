// SPDX-License-Identifier: MIT

package coretest

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/wgplex/wgplex/core"
)

// MemNetwork connects MemBinds: a datagram sent to an address is delivered
// to the bind open on that address and port, with the sender's current
// address as its source. It is lossless unless a Filter drops packets.
type MemNetwork struct {
	inflight atomic.Int64 // datagrams sent and not yet fully handed on
	mu       sync.Mutex
	binds    map[netip.AddrPort]*MemBind
	// Filter, when set, sees every datagram and returns false to drop it.
	// Set it before any bind sends, or with SetFilter while they do.
	Filter   func(from, to netip.AddrPort, pkt []byte) bool
	coalesce atomic.Bool
}

// SetCoalesce makes every Send deliver its runs of equal-sized datagrams
// (the last of a run may be shorter, at most 64 in all) as one buffer, as
// UDP GSO and GRO do together; or stop doing so.
func (n *MemNetwork) SetCoalesce(on bool) { n.coalesce.Store(on) }

// SetFilter replaces Filter while binds may be sending (a test that
// holds datagrams back and later lets them through).
func (n *MemNetwork) SetFilter(f func(from, to netip.AddrPort, pkt []byte) bool) {
	n.mu.Lock()
	n.Filter = f
	n.mu.Unlock()
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{binds: make(map[netip.AddrPort]*MemBind)}
}

// NewBind returns a bind that will live at addr once opened.
func (n *MemNetwork) NewBind(addr netip.Addr) *MemBind {
	return &MemBind{net: n, addr: addr}
}

// MemEndpoint is the core.Endpoint of a MemNetwork.
type MemEndpoint struct{ Dst netip.AddrPort }

// DstAddrPort implements core.Endpoint.
func (e *MemEndpoint) DstAddrPort() netip.AddrPort { return e.Dst }

// SrcAddr implements core.Endpoint.
func (e *MemEndpoint) SrcAddr() netip.Addr { return netip.Addr{} }

// ClearSrc implements core.Endpoint.
func (e *MemEndpoint) ClearSrc() {}

// String implements core.Endpoint.
func (e *MemEndpoint) String() string { return e.Dst.String() }

// datagram is one inbox entry: a datagram, or with coalescing a train of
// them, seg bytes each but the last.
type datagram struct {
	from netip.AddrPort
	data []byte
	seg  int
}

// count is how many datagrams d holds.
func (d datagram) count() int {
	if d.seg <= 0 || d.seg >= len(d.data) {
		return 1
	}
	return (len(d.data) + d.seg - 1) / d.seg
}

// MemBind is an in-memory core.Bind on a MemNetwork.
type MemBind struct {
	net   *MemNetwork
	mu    sync.Mutex
	addr  netip.Addr
	port  uint16
	inbox chan datagram
	done  chan struct{}
	mark  uint32
	sends atomic.Uint64 // Send calls, each a system call on a real socket
}

// SendCalls is how many times Send was called: what a benchmark counts
// where a real socket would make one system call per Send.
func (b *MemBind) SendCalls() uint64 { return b.sends.Load() }

// Open implements core.Bind.
func (b *MemBind) Open(port uint16) ([]core.ReceiveFunc, uint16, error) {
	b.net.mu.Lock()
	defer b.net.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inbox != nil {
		return nil, 0, fmt.Errorf("memory bind already open")
	}
	if port == 0 {
		for p := uint16(40000); ; p++ {
			if _, used := b.net.binds[netip.AddrPortFrom(b.addr, p)]; !used {
				port = p
				break
			}
		}
	}
	ap := netip.AddrPortFrom(b.addr, port)
	if _, used := b.net.binds[ap]; used {
		return nil, 0, fmt.Errorf("%s: address in use", ap)
	}
	b.port = port
	b.inbox = make(chan datagram, 4096)
	b.done = make(chan struct{})
	b.net.binds[ap] = b
	inbox, done := b.inbox, b.done
	// A receiver calls again only after handing on the previous batch, so
	// that batch stops counting as in flight at the next call.
	var unacked int64
	recv := func(pkts [][]byte, sizes, segs []int, eps []core.Endpoint) (int, error) {
		b.net.inflight.Add(-unacked)
		unacked = 0
		var d datagram
		select {
		case d = <-inbox:
		case <-done:
			return 0, net.ErrClosed
		}
		n := 0
		for {
			sizes[n] = copy(pkts[n], d.data)
			segs[n] = 0
			if d.seg > 0 && d.seg < len(d.data) {
				segs[n] = d.seg
			}
			eps[n] = &MemEndpoint{Dst: d.from}
			unacked += int64(d.count())
			n++
			if n == len(pkts) {
				return n, nil
			}
			select {
			case d = <-inbox:
			default:
				return n, nil
			}
		}
	}
	return []core.ReceiveFunc{recv}, port, nil
}

// Close implements core.Bind.
func (b *MemBind) Close() error {
	b.net.mu.Lock()
	defer b.net.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inbox == nil {
		return nil
	}
	delete(b.net.binds, netip.AddrPortFrom(b.addr, b.port))
	close(b.done)
	b.inbox = nil
	return nil
}

// SetAddr moves an open bind to a new address (a roaming host), keeping
// its port.
func (b *MemBind) SetAddr(addr netip.Addr) {
	b.net.mu.Lock()
	defer b.net.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inbox != nil {
		delete(b.net.binds, netip.AddrPortFrom(b.addr, b.port))
		b.net.binds[netip.AddrPortFrom(addr, b.port)] = b
	}
	b.addr = addr
}

// AddrPort returns where the bind is reachable.
func (b *MemBind) AddrPort() netip.AddrPort {
	b.mu.Lock()
	defer b.mu.Unlock()
	return netip.AddrPortFrom(b.addr, b.port)
}

// SetMark implements core.Bind.
func (b *MemBind) SetMark(mark uint32) error {
	b.mu.Lock()
	b.mark = mark
	b.mu.Unlock()
	return nil
}

// Send implements core.Bind.
func (b *MemBind) Send(bufs [][]byte, ep core.Endpoint) error {
	b.sends.Add(1)
	from := b.AddrPort()
	to := ep.DstAddrPort()
	b.net.mu.Lock()
	dst := b.net.binds[to]
	filter := b.net.Filter
	b.net.mu.Unlock()
	if dst == nil {
		return nil // like UDP: nobody listening, the datagram is lost
	}
	dst.mu.Lock()
	inbox, done := dst.inbox, dst.done
	dst.mu.Unlock()
	if inbox == nil {
		return nil
	}
	coalesce := b.net.coalesce.Load()
	var train datagram
	deliver := func() {
		if train.data == nil {
			return
		}
		k := int64(train.count())
		b.net.inflight.Add(k)
		select {
		case inbox <- train:
		case <-done:
			b.net.inflight.Add(-k)
		default: // queue full: lost, as on a real network
			b.net.inflight.Add(-k)
		}
		train = datagram{}
	}
	for _, buf := range bufs {
		if filter != nil && !filter(from, to, buf) {
			continue
		}
		if coalesce && train.data != nil && len(buf) > 0 && len(buf) <= train.seg &&
			len(train.data)%train.seg == 0 && train.count() < 64 {
			train.data = append(train.data, buf...)
			continue
		}
		deliver()
		train = datagram{from: from, data: append([]byte{}, buf...), seg: len(buf)}
	}
	deliver()
	return nil
}

// ParseEndpoint implements core.Bind.
func (b *MemBind) ParseEndpoint(s string) (core.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &MemEndpoint{Dst: ap}, nil
}

// BatchSize implements core.Bind.
func (b *MemBind) BatchSize() int { return 32 }

var _ core.Bind = (*MemBind)(nil)
var _ core.Device = (*MemDevice)(nil)

// Idle reports whether every datagram sent has been received and handed
// on by its receiver. Tests use it to let asynchronous work settle before
// moving a FakeClock on.
func (n *MemNetwork) Idle() bool { return n.inflight.Load() == 0 }
