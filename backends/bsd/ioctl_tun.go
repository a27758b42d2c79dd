// SPDX-License-Identifier: MIT

//go:build freebsd || netbsd || openbsd

package bsd

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlPtr is ioctl(2) with a pointer argument; x/sys/unix exports no
// general form of it on these systems.
func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// ifreqIoctl runs an interface ioctl on a throwaway AF_INET socket.
func ifreqIoctl(req uint, r ifreq) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return ioctlPtr(fd, req, unsafe.Pointer(&r[0]))
}

// setMTU sets the MTU with SIOCSIFMTU.
func setMTU(name string, mtu int) error {
	if err := checkMTU(mtu); err != nil {
		return err
	}
	r, err := newIfreq(ioctlParamLen(unix.SIOCSIFMTU), name)
	if err != nil {
		return err
	}
	r.setInt32(int32(mtu))
	if err := ifreqIoctl(unix.SIOCSIFMTU, r); err != nil {
		return fmt.Errorf("bsd: set MTU of %s to %d: %w", name, mtu, err)
	}
	return nil
}

// destroyInterface destroys the interface with SIOCIFDESTROY. One that is
// already gone (OpenBSD destroys a tun interface created by opening it on
// the last close) is not an error.
func destroyInterface(name string) error {
	r, err := newIfreq(ioctlParamLen(unix.SIOCIFDESTROY), name)
	if err != nil {
		return err
	}
	err = ifreqIoctl(unix.SIOCIFDESTROY, r)
	if err == nil || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) {
		return nil
	}
	return fmt.Errorf("bsd: destroy %s: %w", name, err)
}
