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
	hostAF = afOpenBSD
	hostRT = rtOpenBSD
)

// Compile-time checks of the tables against x/sys/unix: each pair of
// conversions is valid only when the two values are equal.
const (
	_ = uint(unix.AF_INET6 - openbsdAFInet6)
	_ = uint(openbsdAFInet6 - unix.AF_INET6)
	_ = uint(unix.AF_INET - afInet)
	_ = uint(afInet - unix.AF_INET)
	_ = uint(unix.RTM_VERSION - openbsdRTMVersion)
	_ = uint(openbsdRTMVersion - unix.RTM_VERSION)
	_ = uint(unix.RTM_IFINFO - openbsdRTMIfInfo)
	_ = uint(openbsdRTMIfInfo - unix.RTM_IFINFO)
	_ = uint(unix.RTM_IFANNOUNCE - openbsdRTMAnnounce)
	_ = uint(openbsdRTMAnnounce - unix.RTM_IFANNOUNCE)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Index) - openbsdIfmIndex
	_ = openbsdIfmIndex - unsafe.Offsetof(unix.IfMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Flags) - openbsdIfmFlags
	_ = openbsdIfmFlags - unsafe.Offsetof(unix.IfMsghdr{}.Flags)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Data) - openbsdIfmData
	_ = openbsdIfmData - unsafe.Offsetof(unix.IfMsghdr{}.Data)
	_ = unsafe.Offsetof(unix.IfAnnounceMsghdr{}.Index) - openbsdAnnIndex
	_ = openbsdAnnIndex - unsafe.Offsetof(unix.IfAnnounceMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfAnnounceMsghdr{}.What) - openbsdAnnWhat
	_ = openbsdAnnWhat - unsafe.Offsetof(unix.IfAnnounceMsghdr{}.What)
	_ = unsafe.Offsetof(unix.IfData{}.Mtu) - 4
	_ = 4 - unsafe.Offsetof(unix.IfData{}.Mtu)
)

// openDevice opens /dev/tunN, which creates interface tunN (OpenBSD's tun
// always carries the address-family header), and sets point-to-point mode.
func openDevice(p tunPlan) (*os.File, string, error) {
	name := p.path[len("/dev/"):]
	fd, err := unix.Open(p.path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", fmt.Errorf("bsd: open %s: %w", p.path, err)
	}
	if err := unix.IoctlSetPointerInt(fd, openbsdTUNSIFMODE, unix.IFF_POINTOPOINT|unix.IFF_MULTICAST); err != nil {
		unix.Close(fd)
		destroyInterface(name)
		return nil, "", fmt.Errorf("bsd: point-to-point mode on %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), p.path), name, nil
}
