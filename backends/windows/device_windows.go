// SPDX-License-Identifier: MIT

package windows

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	win "golang.org/x/sys/windows"
	"golang.zx2c4.com/wintun"

	"github.com/wgplex/wgplex/core"
)

// ErrBadOffset is returned when a buffer is shorter than the headroom offset.
var ErrBadOffset = errors.New("windows: offset beyond buffer")

// ErrPacketTooBig is returned by Read when a packet does not fit the buffer.
var ErrPacketTooBig = errors.New("windows: packet larger than buffer")

// tunnelType is the adapter type name Wintun shows in the device manager.
const tunnelType = "wgplex"

// Compile-time check that ringCapacity is within Wintun's limits.
const (
	_ = uint(ringCapacity - wintun.RingCapacityMin)
	_ = uint(wintun.RingCapacityMax - ringCapacity)
)

// Device is a Wintun adapter with a running session. It implements
// core.Device and adds SetMTU and LUID. Create one with Create; methods are
// safe for concurrent use.
type Device struct {
	name    string
	adapter *wintun.Adapter
	session wintun.Session
	luid    uint64

	// stop is a manual-reset event Close signals to wake a Read waiting
	// for the ring.
	stop win.Handle
	// mu is held for reading around every ring operation and for writing
	// by Close while it ends the session, so that no Read or Write touches
	// a ring that is gone.
	mu     sync.RWMutex
	closed bool

	readMu sync.Mutex // one reader at a time: the receive ring has one consumer

	events    chan core.DeviceEvent
	closeOnce sync.Once
	closeErr  error
}

var _ core.Device = (*Device)(nil)

// Create creates the Wintun adapter name, starts a session and sets the
// MTU when mtu > 0. It needs administrator rights and wintun.dll.
func Create(name string, mtu int) (*Device, error) {
	adapter, err := wintun.CreateAdapter(name, tunnelType, nil)
	if err != nil {
		return nil, fmt.Errorf("windows: create Wintun adapter %q: %w", name, err)
	}
	session, err := adapter.StartSession(ringCapacity)
	if err != nil {
		adapter.Close()
		return nil, fmt.Errorf("windows: start Wintun session: %w", err)
	}
	stop, err := win.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		session.End()
		adapter.Close()
		return nil, fmt.Errorf("windows: %w", err)
	}
	d := &Device{
		name:    name,
		adapter: adapter,
		session: session,
		luid:    adapter.LUID(),
		stop:    stop,
		events:  make(chan core.DeviceEvent, 16),
	}
	if mtu > 0 {
		if err := setMTU(d.luid, mtu); err != nil {
			d.Close()
			return nil, err
		}
	}
	// A Wintun adapter with a session is up for as long as the session
	// runs.
	d.events <- core.EventUp
	return d, nil
}

// LUID returns the adapter's locally unique identifier, which the IP
// Helper API uses to name it.
func (d *Device) LUID() uint64 { return d.luid }

// BatchSize is 1: the rings hand out one packet per call.
func (d *Device) BatchSize() int { return 1 }

// Name returns the adapter's name as given to Create.
func (d *Device) Name() (string, error) { return d.name, nil }

// Events delivers EventUp at creation and EventMTUUpdate after SetMTU. It
// is closed by Close.
func (d *Device) Events() <-chan core.DeviceEvent { return d.events }

// Read copies one packet from the receive ring to bufs[0][offset:]. It
// waits on the ring's event while the ring is empty.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	if offset < 0 || offset > len(bufs[0]) {
		return 0, ErrBadOffset
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	for {
		n, wait, err := d.tryRead(bufs[0], offset)
		if wait == 0 {
			if err != nil {
				return 0, err
			}
			sizes[0] = n
			return 1, nil
		}
		ev, err := win.WaitForMultipleObjects([]win.Handle{wait, d.stop}, false, win.INFINITE)
		if err != nil {
			return 0, fmt.Errorf("windows: wait for packets: %w", err)
		}
		if ev == win.WAIT_OBJECT_0+1 {
			return 0, os.ErrClosed
		}
	}
}

// tryRead takes one packet off the ring, or returns the event to wait on
// when it is empty.
func (d *Device) tryRead(buf []byte, offset int) (int, win.Handle, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, 0, os.ErrClosed
	}
	pkt, err := d.session.ReceivePacket()
	switch {
	case err == nil:
		n, ok := copyPacket(buf, offset, pkt)
		d.session.ReleaseReceivePacket(pkt)
		if !ok {
			return 0, 0, ErrPacketTooBig
		}
		return n, 0, nil
	case errors.Is(err, win.ERROR_NO_MORE_ITEMS):
		return 0, d.session.ReadWaitEvent(), nil
	case errors.Is(err, win.ERROR_HANDLE_EOF):
		return 0, 0, os.ErrClosed
	}
	return 0, 0, fmt.Errorf("windows: receive: %w", err)
}

// Write copies each bufs[i][offset:] into the send ring. A full ring drops
// the packet, as a full NIC queue would; it is not an error.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, ErrBadOffset
		}
		pkt, err := d.session.AllocateSendPacket(len(b) - offset)
		switch {
		case err == nil:
			copy(pkt, b[offset:])
			d.session.SendPacket(pkt)
		case errors.Is(err, win.ERROR_BUFFER_OVERFLOW):
			// Ring full: drop.
		case errors.Is(err, win.ERROR_HANDLE_EOF):
			return i, os.ErrClosed
		default:
			return i, fmt.Errorf("windows: send: %w", err)
		}
	}
	return len(bufs), nil
}

// MTU returns the adapter's IPv4 MTU, or its IPv6 MTU when IPv4 is not
// bound to it.
func (d *Device) MTU() (int, error) {
	var firstErr error
	for _, family := range []uint16{win.AF_INET, win.AF_INET6} {
		row, err := ipInterface(d.luid, family)
		if err == nil {
			return int(row.NlMtu), nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return 0, firstErr
}

// SetMTU sets the adapter's MTU for IPv4 and IPv6 and reports
// EventMTUUpdate.
func (d *Device) SetMTU(mtu int) error {
	if err := setMTU(d.luid, mtu); err != nil {
		return err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if !d.closed {
		select {
		case d.events <- core.EventMTUUpdate:
		default:
		}
	}
	return nil
}

// Close ends the session, removes the adapter and closes Events. A
// blocked Read returns os.ErrClosed. Calls after the first return nil.
func (d *Device) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		win.SetEvent(d.stop)
		d.mu.Lock()
		d.closed = true
		d.session.End()
		d.closeErr = d.adapter.Close()
		close(d.events)
		d.mu.Unlock()
		// A Read that saw stop has returned once readMu is free.
		d.readMu.Lock()
		win.CloseHandle(d.stop)
		d.readMu.Unlock()
	})
	if !first {
		return nil
	}
	return d.closeErr
}

// iphlpapi holds the IP Helper call that x/sys/windows does not wrap.
var (
	iphlpapi                = win.NewLazySystemDLL("iphlpapi.dll")
	procSetIpInterfaceEntry = iphlpapi.NewProc("SetIpInterfaceEntry")
)

// ipInterface reads the adapter's IP interface row for one family.
func ipInterface(luid uint64, family uint16) (*win.MibIpInterfaceRow, error) {
	row := &win.MibIpInterfaceRow{Family: family, InterfaceLuid: luid}
	if err := win.GetIpInterfaceEntry(row); err != nil {
		return nil, fmt.Errorf("windows: GetIpInterfaceEntry: %w", err)
	}
	return row, nil
}

// setMTU writes the MTU to the adapter's IPv4 and IPv6 rows; a family not
// bound to the adapter is skipped.
func setMTU(luid uint64, mtu int) error {
	if err := checkMTU(mtu); err != nil {
		return err
	}
	set := 0
	for _, family := range []uint16{win.AF_INET, win.AF_INET6} {
		row, err := ipInterface(luid, family)
		if err != nil {
			continue
		}
		row.NlMtu = uint32(mtu)
		if family == win.AF_INET {
			// SetIpInterfaceEntry rejects an IPv4 row whose
			// SitePrefixLength is not 0, which is what Get returns.
			row.SitePrefixLength = 0
		}
		if r, _, _ := procSetIpInterfaceEntry.Call(uintptr(unsafe.Pointer(row))); r != 0 {
			return fmt.Errorf("windows: set MTU %d: %w", mtu, win.Errno(r))
		}
		set++
	}
	if set == 0 {
		return errors.New("windows: set MTU: adapter has neither IPv4 nor IPv6")
	}
	return nil
}
