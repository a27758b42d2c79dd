// SPDX-License-Identifier: MIT

package core

import (
	"net/netip"
)

// This file defines the ports: the interfaces through which the engine talks
// to the operating system (Device, Bind) and to whoever holds the static key
// (KeyStore). Backends, transports and plugins implement them; the engine
// never imports an implementation.

// DeviceEvent is a change of the packet device's state reported by a backend.
type DeviceEvent int

const (
	// EventUp means the device came up administratively.
	EventUp DeviceEvent = iota + 1
	// EventDown means the device went down administratively.
	EventDown
	// EventMTUUpdate means the device MTU changed; read it with MTU().
	EventMTUUpdate
)

// Device is the operating system's packet device (TUN). It moves whole IP
// packets in batches. Every buffer handed to Read or Write has offset bytes
// of headroom in front of the packet, so that the engine can build the
// WireGuard header in place without copying the payload.
type Device interface {
	// Read reads up to len(bufs) packets. Packet i is written to
	// bufs[i][offset:] and its length stored in sizes[i]. It returns the
	// number of packets read; it blocks until at least one is available or
	// the device is closed.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes each bufs[i][offset:] as one packet. It returns how many
	// packets were written.
	Write(bufs [][]byte, offset int) (int, error)
	// MTU returns the device's current MTU.
	MTU() (int, error)
	// Name returns the interface name.
	Name() (string, error)
	// Events delivers up/down/MTU changes. It is closed when the device goes
	// away (deleted from outside or closed).
	Events() <-chan DeviceEvent
	// BatchSize is the largest number of packets Read returns at once.
	BatchSize() int
	// Close releases the device; a blocked Read returns an error.
	Close() error
}

// Endpoint is a peer's address on the outer network, plus (where the OS
// allows) the local source address a reply should leave from ("sticky
// source"). Implementations are comparable values or pointers owned by a Bind.
type Endpoint interface {
	// DstAddrPort is the remote address.
	DstAddrPort() netip.AddrPort
	// SrcAddr is the local address packets to this endpoint leave from, or
	// the zero Addr when the OS chooses.
	SrcAddr() netip.Addr
	// ClearSrc forgets the sticky source, e.g. after a routing change made
	// it unusable.
	ClearSrc()
	// String formats the remote address as wg(8) shows it ("1.2.3.4:51820",
	// "[fd00::1]:51820").
	String() string
}

// ReceiveFunc fills up to len(packets) buffers with what arrived: buffer i
// gets sizes[i] bytes from the source eps[i]. That is one datagram when
// segs[i] is 0. A transport that receives datagrams coalesced (UDP GRO)
// may instead put several datagrams of one source back to back in one
// buffer and set segs[i] to their size; the last may be shorter. Handing
// the coalesced buffer over as it is, rather than copying each datagram
// into a buffer of its own, saves a copy of every byte received. It blocks
// until at least one datagram arrives and returns net.ErrClosed once the
// Bind closes.
type ReceiveFunc func(packets [][]byte, sizes, segs []int, eps []Endpoint) (n int, err error)

// Bind is the UDP transport.
type Bind interface {
	// Open listens on port (0 picks a free one) and returns the receive
	// functions to drive, one goroutine each, and the port actually bound.
	Open(port uint16) (fns []ReceiveFunc, actualPort uint16, err error)
	// Close closes the sockets; pending ReceiveFuncs return net.ErrClosed.
	Close() error
	// SetMark sets the firewall mark (SO_MARK on Linux) on outgoing packets;
	// 0 clears it.
	SetMark(mark uint32) error
	// Send sends every buffer in bufs as one datagram to ep, in order.
	Send(bufs [][]byte, ep Endpoint) error
	// ParseEndpoint turns "host:port" (an IP literal) into an Endpoint.
	ParseEndpoint(s string) (Endpoint, error)
	// BatchSize is the most buffers a ReceiveFunc fills, or datagrams
	// Send takes, per call.
	BatchSize() int
}

// KeyStore is the interface's static identity. The engine calls DH for the
// two static-key Diffie-Hellman operations of the handshake and never asks
// for the private key bytes, so a key vault can keep them elsewhere.
// It has the same method set as noise.Identity.
type KeyStore interface {
	// PublicKey returns the static public key.
	PublicKey() PublicKey
	// DH returns X25519(staticPrivate, peer).
	DH(peer PublicKey) ([32]byte, error)
}
