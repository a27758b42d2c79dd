// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Moving the interface to another network namespace (ip link set wg0 netns
// B, the container recipe) makes the kernel announce RTM_DELLINK in the old
// namespace, exactly as a deletion does. The two differ at the queue: a
// deleted interface detaches its queues (TUNGETIFF on ours fails with
// EBADFD), a moved one keeps them. So a deletion notice is checked through
// the file descriptor before it is believed; for a move, the watcher opens
// its netlink and control sockets again inside the interface's new
// namespace (TUNGETDEVNETNS hands us that namespace), so that up/down and
// MTU changes made there keep reaching the engine. The UDP sockets stay
// where they were opened, which is what the recipe wants: the interface in
// the container, the encrypted traffic in the host's namespace.

// errMoveFailed wraps why the watcher could not follow a moved interface.
var errMoveFailed = errors.New("tun: cannot follow the interface into its new namespace")

// checkMoved is called on RTM_DELLINK for our index. It reports deleted
// when the queue is detached. Otherwise the interface lives on, possibly in
// another namespace, and the namespace it is in now is returned as an open
// file descriptor (the caller closes it), or -1 if it could not be had.
func (d *Device) checkMoved() (deleted bool, nsfd int, err error) {
	// TUNGETIFF takes the rtnl lock that a namespace move holds: by the
	// time it returns, the move is over and the answer final.
	if _, err := d.Name(); err != nil {
		if errors.Is(err, unix.EBADFD) || errors.Is(err, ErrDeviceGone) {
			return true, -1, nil
		}
		return false, -1, err
	}
	var ierr error
	if cerr := d.rc.Control(func(fd uintptr) {
		nsfd, ierr = unix.IoctlRetInt(int(fd), unix.TUNGETDEVNETNS)
	}); cerr != nil {
		return false, -1, cerr
	}
	if ierr != nil {
		if errors.Is(ierr, unix.EBADFD) {
			return true, -1, nil
		}
		// Kernels before 5.2 lack TUNGETDEVNETNS: the interface is alive
		// but cannot be followed.
		return false, -1, fmt.Errorf("%w: TUNGETDEVNETNS: %v", errMoveFailed, ierr)
	}
	return false, nsfd, nil
}

// sameNetns reports whether two namespace file descriptors name one
// namespace (the same nsfs inode).
func sameNetns(a, b int) bool {
	var sa, sb unix.Stat_t
	if unix.Fstat(a, &sa) != nil || unix.Fstat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// nsSockets are the namespace-bound sockets the device needs: the control
// socket for interface ioctls and the netlink subscription.
type nsSockets struct {
	ctl     int
	nl      *netlinkConn
	ifindex int32
	st      linkState
}

// openSocketsIn opens the control and netlink sockets inside the namespace
// nsfd, on a thread that enters it for the duration and then goes back. A
// socket belongs for life to the namespace it was created in, so nothing
// after this needs the thread.
func openSocketsIn(nsfd int, name string) (s nsSockets, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, oerr := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if oerr != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("%w: current namespace: %v", errMoveFailed, oerr)
			return
		}
		defer unix.Close(orig)
		if serr := unix.Setns(nsfd, unix.CLONE_NEWNET); serr != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("%w: enter namespace: %v", errMoveFailed, serr)
			return
		}
		s, err = openSockets(name)
		if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
			// The thread stays locked and dies with this goroutine rather
			// than run other goroutines in the wrong namespace.
			err = errors.Join(err, fmt.Errorf("return to namespace: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
	if err != nil && s.nl != nil {
		s.close()
	}
	return s, err
}

// openSockets opens the sockets in the calling thread's namespace and
// reads the interface's index and state there; subscribing comes first so
// that no change falls between subscription and read.
func openSockets(name string) (nsSockets, error) {
	nl, err := openNetlink()
	if err != nil {
		return nsSockets{}, err
	}
	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		nl.Close()
		return nsSockets{}, fmt.Errorf("tun: control socket: %w", err)
	}
	s := nsSockets{ctl: ctl, nl: nl}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		err = unix.IoctlIfreq(ctl, unix.SIOCGIFINDEX, ifr)
	}
	if err != nil {
		s.close()
		return nsSockets{}, fmt.Errorf("tun: index of %s: %w", name, err)
	}
	s.ifindex = int32(ifr.Uint32())
	if s.st, err = queryState(ctl, name); err != nil {
		s.close()
		return nsSockets{}, err
	}
	return s, nil
}

func (s *nsSockets) close() {
	if s.nl != nil {
		s.nl.Close()
	}
	unix.Close(s.ctl)
}

// follow handles an RTM_DELLINK for our interface. It returns gone when
// the interface was really deleted. Otherwise the watcher keeps going with
// the new state; if the interface moved, the device's sockets now live in
// its new namespace.
func (d *Device) follow(old linkState) (st linkState, gone bool) {
	deleted, nsfd, err := d.checkMoved()
	if deleted {
		return old, true
	}
	if err != nil {
		// Alive but not followable: keep serving packets; link events of
		// the new namespace are not seen (documented in the package doc).
		d.logf("tun: interface left this namespace; up/down and MTU changes there will not be followed: %v", err)
		return old, false
	}
	defer unix.Close(nsfd)
	if sameNetns(nsfd, d.nsfd) {
		return old, false
	}
	name, err := d.Name()
	if err != nil {
		d.logf("tun: name of the moved interface: %v", err)
		return old, false
	}
	s, err := openSocketsIn(nsfd, name)
	if err != nil {
		d.logf("tun: %v", err)
		return old, false
	}
	newNS, err := unix.Dup(nsfd)
	if err != nil {
		s.close()
		return old, false
	}
	d.nlMu.Lock()
	if d.closed {
		d.nlMu.Unlock()
		s.close()
		unix.Close(newNS)
		return old, true
	}
	oldNL := d.nl
	d.nl = s.nl
	d.nlMu.Unlock()
	oldNL.Close()

	d.ctlMu.Lock()
	unix.Close(d.ctl)
	d.ctl = s.ctl
	d.ctlMu.Unlock()
	unix.Close(d.nsfd)
	d.nsfd = newNS
	d.ifindex = s.ifindex
	d.moves.Add(1)
	return s.st, false
}
