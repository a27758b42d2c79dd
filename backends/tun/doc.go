// SPDX-License-Identifier: MIT

// Package tun is wgplex's Linux TUN backend: a core.Device on a
// /dev/net/tun interface (IFF_TUN, no packet information header), with MTU
// control and link events read from rtnetlink.
//
// With offloads (the default where the kernel has them) the queue is opened
// with IFF_VNET_HDR and TUNSETOFFLOAD, so the kernel hands over TCP and UDP
// super-packets of up to 64 KiB that Read splits into MTU-sized packets, and
// Write coalesces consecutive segments of a flow into such super-packets:
// one system call and one trip through the kernel's stack per 64 KiB instead
// of per packet. Each offload can be switched off with an environment
// variable (WGPLEX_TUN_OFFLOAD, WGPLEX_TUN_TSO, WGPLEX_TUN_USO,
// WGPLEX_TUN_GRO; see offload_linux.go) and Device.Offloads reports what is
// on.
//
// The implementation is Linux only; on other systems the package is empty
// and the BSD, macOS and Windows backends take its place.
package tun
