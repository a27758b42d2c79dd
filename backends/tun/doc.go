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
// Moving the interface to another network namespace (ip link set wg0 netns
// B) is told from a deletion through the queue's file descriptor, and the
// link watcher re-opens its sockets in the new namespace, so that up/down
// and MTU changes made there keep arriving; see follow_linux.go. On kernels
// before 5.2 (no TUNGETDEVNETNS) a moved interface keeps carrying packets
// but its link changes are no longer seen.
//
// The implementation is Linux only; on other systems the package is empty
// and the BSD, macOS and Windows backends take its place.
package tun
