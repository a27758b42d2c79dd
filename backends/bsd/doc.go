// SPDX-License-Identifier: MIT

// Package bsd is wgplex's packet device for FreeBSD, NetBSD and OpenBSD
// tun(4) and for the macOS utun interface.
//
// All four kernels put a 4-byte address-family header in front of every
// packet: the AF_INET or AF_INET6 value of that kernel, as a big-endian
// 32-bit number. The numbers differ (AF_INET6 is 28 on FreeBSD, 24 on NetBSD
// and OpenBSD, 30 on macOS), so the header codec takes the table of the
// running system. Read and Write use the last four bytes of the engine's
// headroom for the header, so no packet is copied.
//
// Up/down and MTU changes (and, where the kernel announces it, the
// interface's removal) come from the routing socket as RTM_IFINFO and
// RTM_IFANNOUNCE messages. The message layouts differ per system as well.
//
// The header codec, the routing-message parser, the ioctl number encoding
// and the per-system choice of device path and interface name are plain Go
// in files without build constraints, so that they are unit-tested (and the
// parser fuzzed) on any host. Only the system calls live in files built for
// the BSDs and macOS, where the package exports Create and Device.
package bsd
