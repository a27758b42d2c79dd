//go:build linux

package tun

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// ErrDeviceGone is returned by Read and Write once the interface has been
// deleted from outside the process.
var ErrDeviceGone = errors.New("tun: device deleted")

// ErrBadOffset is returned when a buffer is shorter than the headroom offset.
var ErrBadOffset = errors.New("tun: offset beyond buffer")

// eventBuffer is how many events may wait unread. Link changes are rare; the
// buffer only keeps the watcher from stalling on a momentarily busy engine.
const eventBuffer = 16

// Device is a Linux TUN interface. It implements core.Device and adds
// SetMTU. Create one with Create; methods are safe for concurrent use.
type Device struct {
	file    *os.File // the /dev/net/tun queue, non-blocking and pollable
	ifindex int32

	// ctl is an AF_INET datagram socket for interface ioctls. It is opened
	// at Create so that it lives in the network namespace the interface was
	// created in, whatever thread later asks for the MTU.
	ctlMu     sync.RWMutex
	ctl       int
	ctlClosed bool

	nl          *netlinkConn
	events      chan core.DeviceEvent
	done        chan struct{} // closed by Close to stop the watcher
	watcherDone chan struct{} // closed when the watcher has returned
	gone        atomic.Bool   // the link was deleted from outside

	closeOnce sync.Once
	closeErr  error
}

var _ core.Device = (*Device)(nil)

// Create creates the TUN interface name, or attaches to it if a persistent
// TUN interface of that name exists, and sets its MTU when mtu > 0. A name
// containing %d lets the kernel pick the number (e.g. "wg%d" gives "wg0").
// The interface is created in the calling thread's network namespace.
func Create(name string, mtu int) (d *Device, err error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open /dev/net/tun: %w", err)
	}
	closeOnErr := func(c func() error) {
		if err != nil {
			c()
		}
	}
	defer closeOnErr(func() error { return unix.Close(fd) })

	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("tun: interface name %q: %w", name, err)
	}
	ifr.SetUint16(tunFlags)
	if err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("tun: create %q: %w", name, err)
	}
	name = ifr.Name()

	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: control socket: %w", err)
	}
	defer closeOnErr(func() error { return unix.Close(ctl) })

	ifr, _ = unix.NewIfreq(name)
	if err = unix.IoctlIfreq(ctl, unix.SIOCGIFINDEX, ifr); err != nil {
		return nil, fmt.Errorf("tun: index of %s: %w", name, err)
	}
	ifindex := int32(ifr.Uint32())

	if mtu > 0 {
		if err = setMTU(ctl, name, mtu); err != nil {
			return nil, err
		}
	}

	// Subscribe before reading the initial state, so that no change falls
	// between the two.
	nl, err := openNetlink()
	if err != nil {
		return nil, err
	}
	defer closeOnErr(nl.Close)
	st, err := queryState(ctl, name)
	if err != nil {
		return nil, err
	}

	d = &Device{
		file:        os.NewFile(uintptr(fd), "/dev/net/tun"),
		ifindex:     ifindex,
		ctl:         ctl,
		nl:          nl,
		events:      make(chan core.DeviceEvent, eventBuffer),
		done:        make(chan struct{}),
		watcherDone: make(chan struct{}),
	}
	go d.watch(st)
	return d, nil
}

// tunFlags are the TUNSETIFF flags: layer 3 packets without the 4-byte
// packet information header. Offloads will add IFF_VNET_HDR here, followed
// by TUNSETVNETHDRSZ and TUNSETOFFLOAD in Create, and a virtio-net header
// in front of every packet in Read and Write.
const tunFlags = unix.IFF_TUN | unix.IFF_NO_PI

// BatchSize is 1: each Read returns one packet until offloads arrive.
func (d *Device) BatchSize() int { return 1 }

// Read reads one packet into bufs[0][offset:] and stores its length in
// sizes[0]. It blocks until a packet arrives, the device is closed
// (os.ErrClosed) or the interface is deleted (ErrDeviceGone).
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	if offset < 0 || offset > len(bufs[0]) {
		return 0, ErrBadOffset
	}
	n, err := d.file.Read(bufs[0][offset:])
	if err != nil {
		// The kernel fails reads with EBADFD once the interface is deleted,
		// which may be before the watcher has seen the notification.
		if d.gone.Load() || errors.Is(err, unix.EBADFD) {
			return 0, ErrDeviceGone
		}
		return 0, err
	}
	sizes[0] = n
	return 1, nil
}

// Write writes each bufs[i][offset:] as one packet. On error it returns the
// number of packets written before the failing one.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		if offset < 0 || offset > len(b) {
			return i, ErrBadOffset
		}
		if _, err := d.file.Write(b[offset:]); err != nil {
			if d.gone.Load() || errors.Is(err, unix.EBADFD) {
				return i, ErrDeviceGone
			}
			return i, err
		}
	}
	return len(bufs), nil
}

// Name returns the interface's current name, asked of the kernel so that a
// rename from outside is seen.
func (d *Device) Name() (string, error) {
	rc, err := d.file.SyscallConn()
	if err != nil {
		return "", err
	}
	ifr, _ := unix.NewIfreq("")
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr)
	}); err != nil {
		return "", err
	}
	if ierr != nil {
		if d.gone.Load() {
			return "", ErrDeviceGone
		}
		return "", fmt.Errorf("tun: get name: %w", ierr)
	}
	return ifr.Name(), nil
}

// MTU returns the interface's MTU.
func (d *Device) MTU() (int, error) {
	name, err := d.Name()
	if err != nil {
		return 0, err
	}
	d.ctlMu.RLock()
	defer d.ctlMu.RUnlock()
	if d.ctlClosed {
		return 0, os.ErrClosed
	}
	return getMTU(d.ctl, name)
}

// SetMTU sets the interface's MTU. Watchers see an EventMTUUpdate.
func (d *Device) SetMTU(mtu int) error {
	name, err := d.Name()
	if err != nil {
		return err
	}
	d.ctlMu.RLock()
	defer d.ctlMu.RUnlock()
	if d.ctlClosed {
		return os.ErrClosed
	}
	return setMTU(d.ctl, name, mtu)
}

// Events delivers EventUp, EventDown and EventMTUUpdate as the interface
// changes, starting with EventUp if it was up when created. The channel is
// closed when the interface is deleted or the device closed.
func (d *Device) Events() <-chan core.DeviceEvent { return d.events }

// Close stops the event watcher, closes the Events channel and releases the
// interface; a blocked Read returns os.ErrClosed. A non-persistent
// interface disappears with it. Calls after the first return nil.
func (d *Device) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		close(d.done)
		errNL := d.nl.Close()
		<-d.watcherDone
		d.ctlMu.Lock()
		errCtl := unix.Close(d.ctl)
		d.ctlClosed = true
		d.ctlMu.Unlock()
		d.closeErr = errors.Join(d.file.Close(), errNL, errCtl)
	})
	if !first {
		return nil
	}
	return d.closeErr
}

// markGone records that the interface was deleted and wakes a blocked Read:
// the kernel already fails reads on a detached queue, but a deadline in the
// past makes sure a parked reader notices.
func (d *Device) markGone() {
	d.gone.Store(true)
	_ = d.file.SetReadDeadline(time.Unix(1, 0))
}

// linkState is what the watcher compares to decide which events to emit.
type linkState struct {
	up  bool
	mtu int
}

// queryState reads the interface's flags and MTU with ioctls.
func queryState(ctl int, name string) (linkState, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return linkState{}, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return linkState{}, fmt.Errorf("tun: flags of %s: %w", name, err)
	}
	up := ifr.Uint16()&unix.IFF_UP != 0
	mtu, err := getMTU(ctl, name)
	if err != nil {
		return linkState{}, err
	}
	return linkState{up: up, mtu: mtu}, nil
}

func getMTU(ctl int, name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, fmt.Errorf("tun: get MTU of %s: %w", name, err)
	}
	return int(int32(ifr.Uint32())), nil
}

func setMTU(ctl int, name string, mtu int) error {
	if mtu <= 0 || mtu > 1<<16-1 {
		return fmt.Errorf("tun: MTU %d out of range", mtu)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("tun: set MTU of %s to %d: %w", name, mtu, err)
	}
	return nil
}
