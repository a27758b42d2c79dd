// SPDX-License-Identifier: MIT

package netstack

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/wgplex/wgplex/core"
)

// nicID is the stack's one network interface: the tunnel.
const nicID tcpip.NICID = 1

// Defaults of Options.
const (
	// DefaultMTU is the MTU when Options.MTU is 0; it is wg-quick's
	// default for an IPv4 underlay.
	DefaultMTU = 1420
	// DefaultBatchSize is how many packets one Read returns at most when
	// Options.BatchSize is 0. It matches the UDP transport's batch, so
	// that one device read can fill one sendmmsg.
	DefaultBatchSize = 64
	// DefaultQueueLen is how many packets the stack may have waiting for
	// the engine to read them when Options.QueueLen is 0. A full queue
	// drops, as a TUN device's queue does; TCP slows down on that.
	DefaultQueueLen = 1024
)

// Options configure a Device.
type Options struct {
	// Name is what Device.Name reports (and so what the UAPI socket and
	// metrics are called); "netstack" when empty.
	Name string
	// Addresses are the interface's addresses with their prefix length,
	// IPv4 or IPv6. At least one is needed to make or accept a
	// connection.
	Addresses []netip.Prefix
	// DNS lists the resolvers that Net's lookups ask, through the tunnel.
	DNS []netip.Addr
	// MTU is the largest inner packet; DefaultMTU when 0.
	MTU int
	// BatchSize bounds the packets one Read returns; DefaultBatchSize
	// when 0.
	BatchSize int
	// QueueLen bounds the outbound packets waiting to be read;
	// DefaultQueueLen when 0.
	QueueLen int
}

// Device is a core.Device over a user-space TCP/IP stack. Create it with
// New; its Net opens connections inside the tunnel.
type Device struct {
	name  string
	batch int
	ep    *channel.Endpoint
	stack *stack.Stack
	net   *Net

	// ctx is cancelled by Close, which ends a blocked Read.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards events against a send after close
	events chan core.DeviceEvent
	closed bool
}

// New creates the stack with the interface's addresses and routes every
// destination of each address family it has an address of into the
// tunnel. The device reports EventUp once, as a TUN device that is already
// up does.
func New(o Options) (*Device, error) {
	mtu := o.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if mtu < 68 || mtu > 65535 {
		return nil, fmt.Errorf("netstack: MTU %d out of range", mtu)
	}
	if mtu < 1280 && hasV6(o.Addresses) {
		// RFC 8200: every IPv6 link carries 1280-byte packets.
		return nil, fmt.Errorf("netstack: MTU %d is below IPv6's minimum of 1280", mtu)
	}
	d := &Device{
		name:   o.Name,
		batch:  o.BatchSize,
		events: make(chan core.DeviceEvent, 16),
	}
	if d.name == "" {
		d.name = "netstack"
	}
	if d.batch <= 0 {
		d.batch = DefaultBatchSize
	}
	qlen := o.QueueLen
	if qlen <= 0 {
		qlen = DefaultQueueLen
	}
	d.stack = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		// Connections from the stack to its own addresses stay inside it
		// rather than being sent to a peer that would send them back.
		HandleLocal: true,
	})
	// SACK recovers from the losses of a full queue far faster than
	// plain retransmission; gVisor leaves it off by default.
	sack := tcpip.TCPSACKEnabled(true)
	if err := d.stack.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		d.stack.Close()
		return nil, fmt.Errorf("netstack: enable SACK: %v", err)
	}
	d.ep = channel.New(qlen, uint32(mtu), "")
	if err := d.stack.CreateNIC(nicID, d.ep); err != nil {
		d.stack.Close()
		return nil, fmt.Errorf("netstack: create interface: %v", err)
	}
	var v4, v6 bool
	for _, p := range o.Addresses {
		a := p.Addr().Unmap()
		if !p.IsValid() || a.Zone() != "" {
			d.stack.Close()
			return nil, fmt.Errorf("netstack: invalid address %v", p)
		}
		proto := ipv4.ProtocolNumber
		if a.Is6() {
			proto, v6 = ipv6.ProtocolNumber, true
		} else {
			v4 = true
		}
		pa := tcpip.ProtocolAddress{
			Protocol: proto,
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   tcpip.AddrFromSlice(a.AsSlice()),
				PrefixLen: p.Bits(),
			},
		}
		if err := d.stack.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
			d.stack.Close()
			return nil, fmt.Errorf("netstack: add address %v: %v", p, err)
		}
	}
	var routes []tcpip.Route
	if v4 {
		routes = append(routes, tcpip.Route{Destination: header.IPv4EmptySubnet, NIC: nicID})
	}
	if v6 {
		routes = append(routes, tcpip.Route{Destination: header.IPv6EmptySubnet, NIC: nicID})
	}
	d.stack.SetRouteTable(routes)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.net = newNet(d.stack, v4, v6, o.DNS)
	d.events <- core.EventUp
	return d, nil
}

func hasV6(ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Addr().Unmap().Is6() {
			return true
		}
	}
	return false
}

// Net returns the tunnel's side of the stack, where programs dial and
// listen.
func (d *Device) Net() *Net { return d.net }

// Read implements core.Device: it waits for the first packet the stack
// sends and then takes whatever else is already queued, up to len(bufs).
// A packet that does not fit its buffer is dropped; with buffers of the
// MTU, as the engine gives, none is.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n := 0
	for n == 0 {
		pkt := d.ep.ReadContext(d.ctx)
		if pkt == nil {
			return 0, net.ErrClosed
		}
		for {
			if size, ok := copyPacket(bufs[n][offset:], pkt); ok {
				sizes[n] = size
				n++
			}
			if n == len(bufs) {
				break
			}
			if pkt = d.ep.Read(); pkt == nil {
				break
			}
		}
	}
	return n, nil
}

// copyPacket copies pkt into dst and releases it.
func copyPacket(dst []byte, pkt *stack.PacketBuffer) (int, bool) {
	defer pkt.DecRef()
	if pkt.Size() > len(dst) {
		return 0, false
	}
	n := 0
	for _, s := range pkt.AsSlices() {
		n += copy(dst[n:], s)
	}
	return n, true
}

// Write implements core.Device: each packet is handed to the stack as if
// it had arrived on the interface. The stack copies it, so the engine may
// reuse the buffers at once. A packet that is neither IPv4 nor IPv6 is
// skipped; the engine's allowed-IPs check already dropped anything else.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	if d.ctx.Err() != nil {
		return 0, net.ErrClosed
	}
	for _, b := range bufs {
		pkt := b[offset:]
		if len(pkt) == 0 {
			continue
		}
		var proto tcpip.NetworkProtocolNumber
		switch pkt[0] >> 4 {
		case 4:
			proto = ipv4.ProtocolNumber
		case 6:
			proto = ipv6.ProtocolNumber
		default:
			continue
		}
		pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(pkt)})
		d.ep.InjectInbound(proto, pb)
		pb.DecRef()
	}
	return len(bufs), nil
}

// MTU implements core.Device.
func (d *Device) MTU() (int, error) { return int(d.ep.MTU()), nil }

// SetMTU changes the interface MTU and tells the engine, as an "ip link set
// mtu" on a TUN device would. Connections opened before keep the segment
// size they negotiated.
func (d *Device) SetMTU(mtu int) error {
	if mtu < 68 || mtu > 65535 {
		return fmt.Errorf("netstack: MTU %d out of range", mtu)
	}
	d.ep.SetMTU(uint32(mtu))
	d.sendEvent(core.EventMTUUpdate)
	return nil
}

func (d *Device) sendEvent(e core.DeviceEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	select {
	case d.events <- e:
	default:
		// The engine reads events as they come; a full queue means it is
		// gone or stuck, and an MTU update is read back with MTU anyway.
	}
}

// Name implements core.Device.
func (d *Device) Name() (string, error) { return d.name, nil }

// Events implements core.Device.
func (d *Device) Events() <-chan core.DeviceEvent { return d.events }

// BatchSize implements core.Device.
func (d *Device) BatchSize() int { return d.batch }

// Close implements core.Device: it ends every connection of the stack,
// unblocks Read and closes Events.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.events)
	d.mu.Unlock()
	d.cancel()
	d.stack.RemoveNIC(nicID)
	d.stack.Close()
	d.ep.Close()
	d.stack.Wait()
	return nil
}
