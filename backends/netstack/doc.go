// SPDX-License-Identifier: MIT

// Package netstack is a core.Device backed by gVisor's user-space TCP/IP
// stack instead of an operating-system TUN device. The tunnel's inner
// packets never reach the host's network stack: they are delivered to, and
// produced by, sockets that exist only inside this process. It needs no
// root, no TUN device and no change to the host's routing, which is what a
// container without NET_ADMIN, a shared host or a CI runner can offer.
//
// A Device has the interface's addresses and MTU, and answers the engine's
// batch reads and writes. Programs reach the tunnel through its Net: Dial
// and Listen for TCP, ListenPacket and Dial for UDP, and a resolver that
// asks the tunnel's DNS servers through the tunnel.
//
// The stack routes every destination to the tunnel; whether a packet gets
// anywhere is decided by the tunnel's allowed IPs, as for a TUN device with
// a default route.
package netstack
