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
	hostAF = afNetBSD
	hostRT = rtNetBSD
)

// Compile-time checks of the tables against x/sys/unix: each pair of
// conversions is valid only when the two values are equal.
const (
	_ = uint(unix.AF_INET6 - netbsdAFInet6)
	_ = uint(netbsdAFInet6 - unix.AF_INET6)
	_ = uint(unix.AF_INET - afInet)
	_ = uint(afInet - unix.AF_INET)
	_ = uint(unix.RTM_VERSION - netbsdRTMVersion)
	_ = uint(netbsdRTMVersion - unix.RTM_VERSION)
	_ = uint(unix.RTM_IFINFO - netbsdRTMIfInfo)
	_ = uint(netbsdRTMIfInfo - unix.RTM_IFINFO)
	_ = uint(unix.RTM_IFANNOUNCE - netbsdRTMAnnounce)
	_ = uint(netbsdRTMAnnounce - unix.RTM_IFANNOUNCE)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Index) - netbsdIfmIndex
	_ = netbsdIfmIndex - unsafe.Offsetof(unix.IfMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Flags) - netbsdIfmFlags
	_ = netbsdIfmFlags - unsafe.Offsetof(unix.IfMsghdr{}.Flags)
	_ = unsafe.Offsetof(unix.IfMsghdr{}.Data) - netbsdIfmData
	_ = netbsdIfmData - unsafe.Offsetof(unix.IfMsghdr{}.Data)
	_ = unsafe.Offsetof(unix.IfAnnounceMsghdr{}.Index) - netbsdAnnIndex
	_ = netbsdAnnIndex - unsafe.Offsetof(unix.IfAnnounceMsghdr{}.Index)
	_ = unsafe.Offsetof(unix.IfAnnounceMsghdr{}.What) - netbsdAnnWhat
	_ = netbsdAnnWhat - unsafe.Offsetof(unix.IfAnnounceMsghdr{}.What)
	_ = unsafe.Offsetof(unix.IfData{}.Mtu) - 8
	_ = 8 - unsafe.Offsetof(unix.IfData{}.Mtu)
)

// openDevice opens /dev/tunN, which creates interface tunN, and switches
// on the address-family header and point-to-point mode.
func openDevice(p tunPlan) (*os.File, string, error) {
	name := p.path[len("/dev/"):]
	fd, err := unix.Open(p.path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, "", fmt.Errorf("bsd: open %s: %w", p.path, err)
	}
	fail := func(what string, err error) (*os.File, string, error) {
		unix.Close(fd)
		destroyInterface(name)
		return nil, "", fmt.Errorf("bsd: %s %s: %w", what, name, err)
	}
	if err := unix.IoctlSetPointerInt(fd, netbsdTUNSIFHEAD, 1); err != nil {
		return fail("address-family header on", err)
	}
	if err := unix.IoctlSetPointerInt(fd, netbsdTUNSIFMODE, unix.IFF_POINTOPOINT|unix.IFF_MULTICAST); err != nil {
		return fail("point-to-point mode on", err)
	}
	return os.NewFile(uintptr(fd), p.path), name, nil
}
