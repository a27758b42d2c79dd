// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// netlinkConn is an rtnetlink socket subscribed to link changes. It is
// non-blocking and registered with Go's poller, so Close wakes a reader.
type netlinkConn struct {
	f  *os.File
	rc syscall.RawConn
}

func openNetlink() (*netlinkConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("tun: netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: unix.RTMGRP_LINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tun: subscribe to link changes: %w", err)
	}
	f := os.NewFile(uintptr(fd), "rtnetlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &netlinkConn{f: f, rc: rc}, nil
}

// Close closes the socket; a blocked read returns an error.
func (c *netlinkConn) Close() error { return c.f.Close() }

// read returns the next datagram sent by the kernel. Datagrams from any
// other sender are dropped: another process must not be able to make us
// believe our interface was deleted.
func (c *netlinkConn) read(buf []byte) (int, error) {
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return 0, err
		}
		if rerr != nil {
			return 0, rerr
		}
		if sa, ok := from.(*unix.SockaddrNetlink); ok && sa.Pid == 0 {
			return n, nil
		}
	}
}

// watch turns link notifications for this interface into events until the
// interface is deleted or the device closed, then closes the channel.
func (d *Device) watch(st linkState) {
	defer close(d.watcherDone)
	defer close(d.events)
	if st.up && !d.emit(core.EventUp) {
		return
	}
	buf := make([]byte, 1<<16)
	var updates []linkUpdate
	for {
		n, err := d.nl.read(buf)
		if errors.Is(err, unix.ENOBUFS) {
			// The kernel dropped notifications because we fell behind; the
			// state has to be read again instead.
			name, nerr := d.Name()
			if nerr != nil {
				d.markGoneIf(nerr)
				return
			}
			d.ctlMu.RLock()
			cur, qerr := queryState(d.ctl, name)
			d.ctlMu.RUnlock()
			if qerr != nil {
				d.markGoneIf(qerr)
				return
			}
			if st, err = d.transition(st, cur); err != nil {
				return
			}
			continue
		}
		if err != nil {
			// Closed by Close, or the socket failed for good.
			return
		}
		// A malformed tail is dropped; whatever parsed before it is used.
		updates, _ = parseLinkMessages(updates[:0], buf[:n])
		for _, u := range updates {
			if u.index != d.ifindex {
				continue
			}
			if u.deleted {
				cur, gone := d.follow(st)
				if gone {
					d.markGone()
					return
				}
				if st, err = d.transition(st, cur); err != nil {
					return
				}
				// The rest of this datagram speaks of the old namespace,
				// where our index may now be another interface's.
				break
			}
			cur := linkState{up: u.flags&unix.IFF_UP != 0, mtu: st.mtu}
			if u.hasMTU {
				cur.mtu = int(u.mtu)
			}
			if st, err = d.transition(st, cur); err != nil {
				return
			}
		}
	}
}

// errStopped tells the watcher that Close was called while it was emitting.
var errStopped = errors.New("tun: watcher stopped")

// transition emits the events that lead from old to cur and returns cur.
func (d *Device) transition(old, cur linkState) (linkState, error) {
	if cur.up != old.up {
		ev := core.EventDown
		if cur.up {
			ev = core.EventUp
		}
		if !d.emit(ev) {
			return old, errStopped
		}
	}
	if cur.mtu != old.mtu && !d.emit(core.EventMTUUpdate) {
		return old, errStopped
	}
	return cur, nil
}

// emit delivers ev unless the device is closing.
func (d *Device) emit(ev core.DeviceEvent) bool {
	select {
	case d.events <- ev:
		return true
	case <-d.done:
		return false
	}
}

// markGoneIf marks the device gone when err says the interface no longer
// exists.
func (d *Device) markGoneIf(err error) {
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EBADFD) || errors.Is(err, ErrDeviceGone) {
		d.markGone()
	}
}
