// SPDX-License-Identifier: MIT

package coretest

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/wgplex/wgplex/core"
)

// MemDevice is an in-memory core.Device. Packets written by the tunnel are
// delivered to Outbound (what the "operating system" receives); packets the
// test injects with Inject are what the tunnel reads.
type MemDevice struct {
	inflight atomic.Int64 // injected packets not yet handed on by the reader
	unacked  int64
	name     string
	mtu      atomic.Int32
	in       chan []byte
	out      chan []byte
	events   chan core.DeviceEvent
	closed   chan struct{}
	once     sync.Once
	evClosed sync.Once
}

// NewMemDevice returns a device named name with the given MTU. It reports
// EventUp once at start, as a TUN device that is already up does.
func NewMemDevice(name string, mtu int) *MemDevice {
	d := &MemDevice{
		name:   name,
		in:     make(chan []byte, 1024),
		out:    make(chan []byte, 1024),
		events: make(chan core.DeviceEvent, 16),
		closed: make(chan struct{}),
	}
	d.mtu.Store(int32(mtu))
	d.events <- core.EventUp
	return d
}

// Inject queues a packet for the tunnel to read, as if the OS had routed it
// into the device. It drops the packet when the queue is full.
func (d *MemDevice) Inject(pkt []byte) bool {
	d.inflight.Add(1)
	select {
	case d.in <- append([]byte(nil), pkt...):
		return true
	case <-d.closed:
		d.inflight.Add(-1)
		return false
	default:
		d.inflight.Add(-1)
		return false
	}
}

// Idle reports whether every injected packet has been read and handed on.
func (d *MemDevice) Idle() bool { return d.inflight.Load() == 0 }

// Outbound delivers packets the tunnel wrote to the device.
func (d *MemDevice) Outbound() <-chan []byte { return d.out }

// Read implements core.Device.
func (d *MemDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	// Only the tunnel's single reader calls Read; it calls again after
	// handing on the previous batch.
	d.inflight.Add(-d.unacked)
	d.unacked = 0
	select {
	case p := <-d.in:
		n := 0
		defer func() { d.unacked = int64(n) }()
		for {
			sizes[n] = copy(bufs[n][offset:], p)
			n++
			if n == len(bufs) {
				return n, nil
			}
			select {
			case p = <-d.in:
			default:
				return n, nil
			}
		}
	case <-d.closed:
		return 0, net.ErrClosed
	}
}

// Write implements core.Device. Packets are dropped when nobody reads
// Outbound fast enough, like a real device under pressure.
func (d *MemDevice) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		select {
		case <-d.closed:
			return i, net.ErrClosed
		default:
		}
		select {
		case d.out <- append([]byte(nil), b[offset:]...):
		default:
		}
	}
	return len(bufs), nil
}

// MTU implements core.Device.
func (d *MemDevice) MTU() (int, error) { return int(d.mtu.Load()), nil }

// SetMTU changes the MTU and reports EventMTUUpdate, as a TUN device does
// when someone runs ip link set mtu.
func (d *MemDevice) SetMTU(mtu int) {
	d.mtu.Store(int32(mtu))
	d.events <- core.EventMTUUpdate
}

// Name implements core.Device.
func (d *MemDevice) Name() (string, error) { return d.name, nil }

// Events implements core.Device.
func (d *MemDevice) Events() <-chan core.DeviceEvent { return d.events }

// SendEvent lets a test simulate an up/down/MTU change.
func (d *MemDevice) SendEvent(e core.DeviceEvent) { d.events <- e }

// BatchSize implements core.Device.
func (d *MemDevice) BatchSize() int { return 32 }

// Close implements core.Device.
func (d *MemDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	d.evClosed.Do(func() { close(d.events) })
	return nil
}
