// SPDX-License-Identifier: MIT

//go:build darwin || freebsd || netbsd || openbsd

package bsd

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// openRouteSocket opens a routing socket, non-blocking and registered with
// Go's poller so that Close wakes a reader.
func openRouteSocket() (*os.File, error) {
	fd, err := unix.Socket(unix.AF_ROUTE, unix.SOCK_RAW, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("bsd: routing socket: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bsd: routing socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "route"), nil
}

// watch turns routing messages about this interface into events until the
// interface is destroyed or the device closed, then closes the channel.
func (d *Device) watch(st linkState) {
	defer close(d.watcherDone)
	defer close(d.events)
	if st.up && !d.emit(core.EventUp) {
		return
	}
	buf := make([]byte, 8<<10)
	var updates []linkUpdate
	for {
		n, err := d.route.Read(buf)
		if errors.Is(err, unix.ENOBUFS) {
			// Messages were lost; read the state afresh.
			cur, qerr := queryState(d.index)
			if qerr != nil {
				return
			}
			if st, err = d.transition(st, cur); err != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		// A message cut short by the buffer is dropped with the rest.
		updates, _ = parseRouteMessages(updates[:0], buf[:n], &hostRT)
		for _, u := range updates {
			if int(u.index) != d.index {
				continue
			}
			// Any process may write to a routing socket, and the kernel
			// passes some of what it is sent on to every listener. So a
			// message only says "look again": the state is read back from
			// the kernel, and the interface counts as destroyed only when
			// it can no longer be found.
			cur, qerr := queryState(d.index)
			if qerr != nil {
				if u.departed {
					d.markGone()
					return
				}
				continue
			}
			if st, err = d.transition(st, cur); err != nil {
				return
			}
		}
	}
}

// errStopped tells the watcher that Close was called while it was emitting.
var errStopped = errors.New("bsd: watcher stopped")

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
