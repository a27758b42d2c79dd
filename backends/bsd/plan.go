// SPDX-License-Identifier: MIT

package bsd

import (
	"fmt"
	"strconv"
	"strings"
)

// ifNameSize is IFNAMSIZ: an interface name and its NUL terminator.
const ifNameSize = 16

// tunPlan is how Create gets hold of the interface a caller asked for on
// one system.
type tunPlan struct {
	// path is the device node to open (tun(4) systems).
	path string
	// rename is the name to give the interface once it exists, when the
	// kernel names it itself (FreeBSD's cloning /dev/tun); "" keeps the
	// kernel's name.
	rename string
	// utunUnit is the macOS control socket unit: interface utunN is unit
	// N+1, and 0 asks the kernel for the next free one.
	utunUnit uint32
}

// planTun chooses how to open the interface name on the system goos
// (runtime.GOOS). The rules follow what each kernel allows:
//
//   - macOS only makes utun interfaces: "utun" takes the next free one,
//     "utunN" asks for that one.
//   - FreeBSD can rename interfaces: "tunN" opens /dev/tunN; any other name
//     clones a new tun through /dev/tun and renames it ("tun" keeps the
//     kernel's name).
//   - NetBSD and OpenBSD cannot rename a tun interface, so the name must be
//     "tunN", and /dev/tunN is opened.
func planTun(goos, name string) (tunPlan, error) {
	if name == "" || len(name) >= ifNameSize || strings.ContainsAny(name, "/ \t\n\x00") {
		return tunPlan{}, fmt.Errorf("bsd: invalid interface name %q", name)
	}
	switch goos {
	case "darwin":
		if name == "utun" {
			return tunPlan{}, nil
		}
		n, ok := unitNumber(name, "utun")
		if !ok {
			return tunPlan{}, fmt.Errorf("bsd: interface name %q: macOS names must be utun or utunN", name)
		}
		return tunPlan{utunUnit: n + 1}, nil
	case "freebsd":
		if _, ok := unitNumber(name, "tun"); ok {
			return tunPlan{path: "/dev/" + name}, nil
		}
		if name == "tun" {
			return tunPlan{path: "/dev/tun"}, nil
		}
		if name[0] >= '0' && name[0] <= '9' {
			return tunPlan{}, fmt.Errorf("bsd: invalid interface name %q", name)
		}
		return tunPlan{path: "/dev/tun", rename: name}, nil
	case "netbsd", "openbsd":
		if _, ok := unitNumber(name, "tun"); !ok {
			return tunPlan{}, fmt.Errorf("bsd: interface name %q: %s names tun interfaces tunN", name, goos)
		}
		return tunPlan{path: "/dev/" + name}, nil
	}
	return tunPlan{}, fmt.Errorf("bsd: no tun backend for %s", goos)
}

// unitNumber parses name as prefix followed by a decimal unit number
// without leading zeros ("tun0", "tun12", not "tun01" or "tun").
func unitNumber(name, prefix string) (uint32, bool) {
	digits, ok := strings.CutPrefix(name, prefix)
	if !ok || digits == "" || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 31)
	if err != nil {
		return 0, false
	}
	return uint32(n), true
}

// The ioctl request encoding shared by the BSDs and macOS (<sys/ioccom.h>):
// direction bits, the parameter length, a group letter and a number.
const (
	iocOut      = 0x40000000
	iocIn       = 0x80000000
	iocParmMask = 0x1fff
)

func ioc(dir uint32, group byte, num uint8, size uint32) uint {
	return uint(dir | (size&iocParmMask)<<16 | uint32(group)<<8 | uint32(num))
}

// iow is _IOW(group, num, size): the kernel reads size bytes.
func iow(group byte, num uint8, size uint32) uint { return ioc(iocIn, group, num, size) }

// ior is _IOR(group, num, size): the kernel writes size bytes.
func ior(group byte, num uint8, size uint32) uint { return ioc(iocOut, group, num, size) }

// ioctlParamLen is the parameter length encoded in an ioctl request: for
// SIOCGIFMTU and friends, the size of that system's struct ifreq.
func ioctlParamLen(req uint) int { return int(req >> 16 & iocParmMask) }

// The tun(4) requests wgplex uses, from each system's <net/if_tun.h>.
// golang.org/x/sys/unix does not carry them.
var (
	freebsdTUNSIFHEAD = iow('t', 96, 4)  // int: prefix packets with the AF header
	freebsdTUNSIFMODE = iow('t', 94, 4)  // int: IFF_POINTOPOINT or IFF_BROADCAST, plus IFF_MULTICAST
	freebsdTUNGIFNAME = ior('t', 93, 32) // struct ifreq: the interface's name
	netbsdTUNSIFHEAD  = iow('t', 66, 4)  // as on FreeBSD
	netbsdTUNSIFMODE  = iow('t', 88, 4)  // as on FreeBSD
	openbsdTUNSIFMODE = iow('t', 93, 4)  // as on FreeBSD; OpenBSD always sends the AF header
)

// ifreq is a struct ifreq of size bytes (it differs between systems: 32 on
// most, 144 on NetBSD), with the interface name at the start and the union
// after it.
type ifreq []byte

// newIfreq returns an ifreq of the given size naming the interface.
func newIfreq(size int, name string) (ifreq, error) {
	if len(name) >= ifNameSize || size < ifNameSize+8 {
		return nil, fmt.Errorf("bsd: invalid interface name %q", name)
	}
	r := make(ifreq, size)
	copy(r, name)
	return r, nil
}

// name returns the interface name, up to its NUL.
func (r ifreq) name() string {
	n := r[:ifNameSize]
	if i := strings.IndexByte(string(n), 0); i >= 0 {
		n = n[:i]
	}
	return string(n)
}

// int32 reads the union as an int (ifr_mtu, ifr_metric) in host order.
func (r ifreq) int32() int32 { return int32(nativeUint32(r[ifNameSize:])) }

// setInt32 writes the union as an int in host order.
func (r ifreq) setInt32(v int32) { putNativeUint32(r[ifNameSize:], uint32(v)) }

// flags reads ifr_flags, a short, in host order.
func (r ifreq) flags() uint16 { return nativeUint16(r[ifNameSize:]) }
