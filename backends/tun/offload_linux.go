// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Offloads. With IFF_VNET_HDR and TUNSETOFFLOAD the kernel hands the device
// TCP (TSO) and UDP (USO) packets of up to 64 KiB that it did not segment,
// and accepts such packets on write; the device splits on read (gso_linux.go)
// and coalesces on write (gro_linux.go). Each is probed at Create and can be
// switched off, because kernels have shipped offload bugs:
//
//	WGPLEX_TUN_OFFLOAD=off  no virtio header at all: one plain packet per read
//	                        and per write, as without offloads
//	WGPLEX_TUN_TSO=off      the kernel segments TCP itself (no TSO4/TSO6)
//	WGPLEX_TUN_USO=off      no UDP offload: the kernel segments UDP itself and
//	                        UDP datagrams are not coalesced on write
//	WGPLEX_TUN_GRO=off      nothing is coalesced on write (TCP nor UDP)
//
// "off", "0", "false" and "no" switch off; anything else (or unset) leaves
// the offload on where the kernel supports it.

// TUNSETOFFLOAD flags (include/uapi/linux/if_tun.h).
const (
	tunFCSUM = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
	tunFUSO4 = 0x20
	tunFUSO6 = 0x40
)

// Keys of Device.Offloads.
const (
	// OffloadVnetHdr: packets carry a virtio-net header (IFF_VNET_HDR).
	OffloadVnetHdr = "tun_vnet_hdr"
	// OffloadCsum: the kernel may leave transport checksums to the device.
	OffloadCsum = "tun_csum"
	// OffloadTSO: reads may return TCP super-packets, split by the device.
	OffloadTSO = "tun_tso"
	// OffloadUSO: reads may return UDP super-packets, split by the device.
	OffloadUSO = "tun_uso"
	// OffloadGROTCP: TCP segments of a flow are coalesced on write.
	OffloadGROTCP = "tun_gro_tcp"
	// OffloadGROUDP: UDP datagrams of a flow are coalesced on write.
	OffloadGROUDP = "tun_gro_udp"
)

// offloads is what a Device has switched on.
type offloads struct {
	vnet, csum, tso, uso, groTCP, groUDP bool
}

func (o offloads) toMap() map[string]bool {
	return map[string]bool{
		OffloadVnetHdr: o.vnet,
		OffloadCsum:    o.csum,
		OffloadTSO:     o.tso,
		OffloadUSO:     o.uso,
		OffloadGROTCP:  o.groTCP,
		OffloadGROUDP:  o.groUDP,
	}
}

// wantedOffloads is what opts allow, before asking the kernel.
func wantedOffloads(opts Options) offloads {
	if opts.NoOffload {
		return offloads{}
	}
	o := offloads{vnet: true, csum: true, tso: true, uso: true, groTCP: true, groUDP: true}
	if opts.NoTSO {
		o.tso = false
	}
	if opts.NoUSO {
		o.uso, o.groUDP = false, false
	}
	if opts.NoGRO {
		o.groTCP, o.groUDP = false, false
	}
	return o
}

// tunFeatures asks which TUNSETIFF flags the kernel supports; 0 if it
// cannot say (very old kernels), which disables the virtio header.
func tunFeatures(fd int) uint16 {
	v, err := unix.IoctlGetUint32(fd, unix.TUNGETFEATURES)
	if err != nil {
		return 0
	}
	return uint16(v)
}

// setOffloads sets the offloads wanted on an IFF_VNET_HDR queue, dropping
// what the kernel refuses: USO first (Linux 6.2+), then TSO; the checksum
// offload alone is as old as the virtio header. It returns what is on.
func setOffloads(fd int, want offloads) (offloads, error) {
	got := want
	for {
		var flags int
		if got.csum {
			flags |= tunFCSUM
		}
		if got.tso {
			flags |= tunFTSO4 | tunFTSO6
		}
		if got.uso {
			flags |= tunFUSO4 | tunFUSO6
		}
		err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, flags)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINVAL) {
			return offloads{}, err
		}
		switch {
		case got.uso:
			got.uso = false
		case got.tso:
			got.tso = false
		case got.csum:
			got.csum = false
		default:
			return offloads{}, err
		}
	}
	// Coalesced UDP is written as GSO_UDP_L4, which a kernel that refuses
	// USO does not take from a TUN device either.
	got.groUDP = got.groUDP && got.uso
	return got, nil
}

// Offloads reports which offloads the device has on, keyed by the Offload*
// constants; for metrics (a wgplex_offload_enabled series per key).
func (d *Device) Offloads() map[string]bool { return d.off.toMap() }
