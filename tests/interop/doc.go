// SPDX-License-Identifier: MIT

// Package interop checks wgplex against the reference userspace
// implementation, wireguard-go, over real UDP sockets on the loopback
// interface. Both sides run in the test process: wgplex on an in-memory
// packet device and its own UDP transport, wireguard-go on a channel TUN
// and its default bind. No privileges are needed.
//
// It is a module of its own so that the main module never depends on
// wireguard-go.
package interop
