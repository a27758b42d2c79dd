// SPDX-License-Identifier: MIT

package bsd

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hostAF and hostRT are this system's header numbers and routing-message
// layout.
var (
	hostAF = afFreeBSD
	hostRT = rtFreeBSD
)

// Compile-time checks of the tables against x/sys/unix: each pair of
// conversions is valid only when the two values are equal.
const (
	_ = uint(unix.AF_INET6 - freebsdAFInet6)
	_ = uint(freebsdAFInet6 - unix.AF_INET6)
	_ = uint(unix.AF_INET - afInet)
	_ = uint(afInet - unix.AF_INET)
	_ = uint(unix.RTM_VERSION - freebsdRTMVersion)
	_ = uint(freebsdRTMVersion - unix.RTM_VERSION)
	_ = uint(unix.RTM_IFINFO - freebsdRTMIfInfo)
	_ = uint(freebsdRTMIfInfo - unix.RTM_IFINFO)
	_ = uint(unix.RTM_IFANNOUNCE - freebsdRTMAnnounce)
	_ = uint(freebsdRTMAnnounce - unix.RTM_IFANNOUNCE)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Index) - freebsdIfmIndex
	_ = freebsdIfmIndex - unsafe.Offsetof(unix.IfMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Flags) - freebsdIfmFlags
	_ = freebsdIfmFlags - unsafe.Offsetof(unix.IfMsghdr{}.Flags)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Data) - freebsdIfmData
	_ = freebsdIfmData - unsafe.Offsetof(unix.IfMsghdr{}.Data)
	_ = unsafe.Offsetof(unix.IfAnnounceMsghdr{}.Index) - freebsdAnnIndex
	_ = freebsdAnnIndex - unsafe.Offsetof(unix.IfAnnounceMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfAnnounceMsghdr{}.What) - freebsdAnnWhat
	_ = freebsdAnnWhat - unsafe.Offsetof(unix.IfAnnounceMsghdr{}.What)
)

// openDevice opens /dev/tunN, or clones a new interface through /dev/tun,
// switches on the address-family header and renames the interface when
// the plan says so. It returns the device and the interface's name.
func openDevice(p tunPlan) (*os.File, string, error) {
	fd, err := unix.Open(p.path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", fmt.Errorf("bsd: open %s: %w", p.path, err)
	}
	r := make(ifreq, ioctlParamLen(freebsdTUNGIFNAME))
	if err := ioctlPtr(fd, freebsdTUNGIFNAME, unsafe.Pointer(&r[0])); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("bsd: name of %s: %w", p.path, err)
	}
	name := r.name()
	fail := func(what string, err error) (*os.File, string, error) {
		unix.Close(fd)
		destroyInterface(name)
		return nil, "", fmt.Errorf("bsd: %s %s: %w", what, name, err)
	}
	if err := unix.IoctlSetPointerInt(fd, freebsdTUNSIFHEAD, 1); err != nil {
		return fail("address-family header on", err)
	}
	if err := unix.IoctlSetPointerInt(fd, freebsdTUNSIFMODE, unix.IFF_POINTOPOINT|unix.IFF_MULTICAST); err != nil {
		return fail("point-to-point mode on", err)
	}
	if p.rename != "" {
		if err := rename(name, p.rename); err != nil {
			return fail("rename", err)
		}
		name = p.rename
	}
	return os.NewFile(uintptr(fd), p.path), name, nil
}

// ifreqData is struct ifreq with the ifr_data pointer in its union.
type ifreqData struct {
	name [ifNameSize]byte
	data uintptr
	_    [ifNameSize - unsafe.Sizeof(uintptr(0))]byte
}

// rename renames an interface with SIOCSIFNAME, whose ifr_data points to
// the new name.
func rename(from, to string) error {
	var r ifreqData
	var newName [ifNameSize]byte
	copy(r.name[:], from)
	copy(newName[:], to)
	r.data = uintptr(unsafe.Pointer(&newName[0]))
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = ioctlPtr(fd, unix.SIOCSIFNAME, unsafe.Pointer(&r))
	runtime.KeepAlive(&newName)
	return err
}
