// SPDX-License-Identifier: MIT

package bsd

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hostAF and hostRT are this system's header numbers and routing-message
// layout.
var (
	hostAF = afDarwin
	hostRT = rtDarwin
)

// Compile-time checks of the tables against x/sys/unix: each pair of
// conversions is valid only when the two values are equal.
const (
	_ = uint(unix.AF_INET6 - darwinAFInet6)
	_ = uint(darwinAFInet6 - unix.AF_INET6)
	_ = uint(unix.AF_INET - afInet)
	_ = uint(afInet - unix.AF_INET)
	_ = uint(unix.RTM_VERSION - darwinRTMVersion)
	_ = uint(darwinRTMVersion - unix.RTM_VERSION)
	_ = uint(unix.RTM_IFINFO - darwinRTMIfInfo)
	_ = uint(darwinRTMIfInfo - unix.RTM_IFINFO)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Index) - darwinIfmIndex
	_ = darwinIfmIndex - unsafe.Offsetof(unix.IfMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Flags) - darwinIfmFlags
	_ = darwinIfmFlags - unsafe.Offsetof(unix.IfMsghdr{}.Flags)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Data) - darwinIfmData
	_ = darwinIfmData - unsafe.Offsetof(unix.IfMsghdr{}.Data)
	_ = unsafe.Offsetof(unix.IfData{}.Mtu) - 8
	_ = 8 - unsafe.Offsetof(unix.IfData{}.Mtu)
)

// From <sys/kern_control.h> and <net/if_utun.h>; x/sys/unix lacks them.
const (
	sysprotoControl = 2 // SYSPROTO_CONTROL
	utunOptIfname   = 2 // UTUN_OPT_IFNAME
	utunControlName = "com.apple.net.utun_control"
)

// openDevice connects a kernel control socket to the utun control, which
// creates interface utun(unit-1), and asks for the interface's name.
func openDevice(p tunPlan) (*os.File, string, error) {
	fd, err := unix.Socket(unix.AF_SYSTEM, unix.SOCK_DGRAM, sysprotoControl)
	if err != nil {
		return nil, "", fmt.Errorf("bsd: control socket: %w", err)
	}
	unix.CloseOnExec(fd)
	info := &unix.CtlInfo{}
	copy(info.Name[:], utunControlName)
	if err := unix.IoctlCtlInfo(fd, info); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("bsd: find %s: %w", utunControlName, err)
	}
	if err := unix.Connect(fd, &unix.SockaddrCtl{ID: info.Id, Unit: p.utunUnit}); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("bsd: create utun (unit %d): %w", p.utunUnit, err)
	}
	name, err := unix.GetsockoptString(fd, sysprotoControl, utunOptIfname)
	if err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("bsd: utun name: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("bsd: %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), name, nil
}

// setMTU sets the MTU with SIOCSIFMTU.
func setMTU(name string, mtu int) error {
	if err := checkMTU(mtu); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	r := &unix.IfreqMTU{MTU: int32(mtu)}
	copy(r.Name[:], name)
	if err := unix.IoctlSetIfreqMTU(fd, r); err != nil {
		return fmt.Errorf("bsd: set MTU of %s to %d: %w", name, mtu, err)
	}
	return nil
}

// destroyInterface does nothing: a utun interface goes away with its
// control socket.
func destroyInterface(string) error { return nil }
