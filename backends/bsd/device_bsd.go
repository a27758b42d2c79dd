// SPDX-License-Identifier: MIT

//go:build darwin || freebsd || netbsd || openbsd

package bsd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// ErrDeviceGone is returned by Read and Write once the interface has been
// destroyed from outside the process.
var ErrDeviceGone = errors.New("bsd: device destroyed")

// ErrBadOffset is returned when a buffer is shorter than the headroom offset.
var ErrBadOffset = errors.New("bsd: offset beyond buffer")

// eventBuffer is how many events may wait unread; link changes are rare.
const eventBuffer = 16

// Device is a tun(4) or utun interface. It implements core.Device and adds
// SetMTU. Create one with Create; methods are safe for concurrent use.
type Device struct {
	file  *os.File // the tun device node or utun control socket, pollable
	index int      // interface index, which survives a rename
	name  string   // the name at creation, used once the interface is gone

	route       *os.File // routing socket
	events      chan core.DeviceEvent
	done        chan struct{} // closed by Close to stop the watcher
	watcherDone chan struct{} // closed when the watcher has returned
	gone        atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

var _ core.Device = (*Device)(nil)

// Create opens the interface name and sets its MTU when mtu > 0. Which
// names each system accepts is described at planTun: "utun"/"utunN" on
// macOS, "tunN" on NetBSD and OpenBSD, any name on FreeBSD (a tun clone is
// renamed to it).
func Create(name string, mtu int) (d *Device, err error) {
	plan, err := planTun(runtime.GOOS, name)
	if err != nil {
		return nil, err
	}
	f, ifname, err := openDevice(plan)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			destroyInterface(ifname)
		}
	}()
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("bsd: %s: %w", ifname, err)
	}
	if mtu > 0 {
		if err = setMTU(ifname, mtu); err != nil {
			return nil, err
		}
	}
	// Subscribe before reading the state, so no change falls in between.
	route, err := openRouteSocket()
	if err != nil {
		return nil, err
	}
	st, err := queryState(iface.Index)
	if err != nil {
		route.Close()
		return nil, err
	}
	d = &Device{
		file:        f,
		index:       iface.Index,
		name:        ifname,
		route:       route,
		events:      make(chan core.DeviceEvent, eventBuffer),
		done:        make(chan struct{}),
		watcherDone: make(chan struct{}),
	}
	go d.watch(st)
	return d, nil
}

// BatchSize is 1: tun(4) and utun move one packet per system call.
func (d *Device) BatchSize() int { return 1 }

// Read reads one packet into bufs[0][offset:] and stores its length in
// sizes[0]. The address-family header is read into the four bytes of
// headroom in front of the packet, so offset should be at least 4; a
// smaller offset costs a copy. Packets of families other than IPv4 and
// IPv6 are skipped.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	buf := bufs[0]
	if offset < 0 || offset > len(buf) {
		return 0, ErrBadOffset
	}
	for {
		var (
			n   int
			err error
			hdr []byte
		)
		if offset >= afHeaderLen {
			n, err = d.file.Read(buf[offset-afHeaderLen:])
			hdr = buf[offset-afHeaderLen:]
		} else {
			tmp := make([]byte, afHeaderLen+len(buf)-offset)
			n, err = d.file.Read(tmp)
			if n > afHeaderLen {
				copy(buf[offset:], tmp[afHeaderLen:n])
			}
			hdr = tmp
		}
		if err != nil {
			return 0, d.ioError(err)
		}
		if n <= afHeaderLen {
			continue
		}
		if _, err := hostAF.decode(hdr); err != nil {
			continue
		}
		sizes[0] = n - afHeaderLen
		return 1, nil
	}
}

// Write writes each bufs[i][offset:] as one packet. The address-family
// header goes into the four bytes of headroom in front of each packet
// (overwriting them); with offset < 4 the packet is copied instead. On
// error it returns the number of packets written before the failing one.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, ErrBadOffset
		}
		var out []byte
		if offset >= afHeaderLen {
			out = b[offset-afHeaderLen:]
		} else {
			out = make([]byte, afHeaderLen+len(b)-offset)
			copy(out[afHeaderLen:], b[offset:])
		}
		if err := hostAF.encode(out, out[afHeaderLen:]); err != nil {
			return i, err
		}
		n, err := d.file.Write(out)
		if err != nil {
			return i, d.ioError(err)
		}
		if n != len(out) {
			return i, io.ErrShortWrite
		}
	}
	return len(bufs), nil
}

// ioError maps a read or write error after the interface was destroyed to
// ErrDeviceGone.
func (d *Device) ioError(err error) error {
	if d.gone.Load() || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV) {
		return ErrDeviceGone
	}
	return err
}

// Name returns the interface's current name, looked up by index so that a
// rename from outside (possible on FreeBSD) is seen.
func (d *Device) Name() (string, error) {
	iface, err := net.InterfaceByIndex(d.index)
	if err != nil {
		if d.gone.Load() {
			return "", ErrDeviceGone
		}
		return "", fmt.Errorf("bsd: interface %d: %w", d.index, err)
	}
	return iface.Name, nil
}

// MTU returns the interface's MTU.
func (d *Device) MTU() (int, error) {
	st, err := queryState(d.index)
	if err != nil {
		if d.gone.Load() {
			return 0, ErrDeviceGone
		}
		return 0, err
	}
	return st.mtu, nil
}

// SetMTU sets the interface's MTU. Watchers see an EventMTUUpdate.
func (d *Device) SetMTU(mtu int) error {
	name, err := d.Name()
	if err != nil {
		return err
	}
	return setMTU(name, mtu)
}

// Events delivers EventUp, EventDown and EventMTUUpdate as the interface
// changes, starting with EventUp if it was up when created. The channel is
// closed when the interface is destroyed or the device closed.
func (d *Device) Events() <-chan core.DeviceEvent { return d.events }

// Close stops the event watcher, closes the Events channel and releases the
// interface (destroying it where the kernel would keep it, on FreeBSD and
// NetBSD). A blocked Read returns an error. Calls after the first return
// nil.
func (d *Device) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		name, nerr := d.Name()
		if nerr != nil {
			name = d.name
		}
		close(d.done)
		errRoute := d.route.Close()
		<-d.watcherDone
		errFile := d.file.Close()
		var errDestroy error
		if !d.gone.Load() {
			errDestroy = destroyInterface(name)
		}
		d.closeErr = errors.Join(errFile, errRoute, errDestroy)
	})
	if !first {
		return nil
	}
	return d.closeErr
}

// markGone records that the interface was destroyed and wakes a blocked
// Read.
func (d *Device) markGone() {
	d.gone.Store(true)
	_ = d.file.SetReadDeadline(time.Unix(1, 0))
}

// linkState is what the watcher compares to decide which events to emit.
type linkState struct {
	up  bool
	mtu int
}

// queryState reads the interface's flags and MTU from the kernel's
// interface list.
func queryState(index int) (linkState, error) {
	iface, err := net.InterfaceByIndex(index)
	if err != nil {
		return linkState{}, fmt.Errorf("bsd: interface %d: %w", index, err)
	}
	return linkState{up: iface.Flags&net.FlagUp != 0, mtu: iface.MTU}, nil
}

// checkMTU rejects MTUs no interface can have.
func checkMTU(mtu int) error {
	if mtu <= 0 || mtu > 1<<16-1 {
		return fmt.Errorf("bsd: MTU %d out of range", mtu)
	}
	return nil
}
