// SPDX-License-Identifier: MIT

package core

import "time"

// Protocol constants. Section numbers refer to the WireGuard whitepaper
// ("WireGuard: Next Generation Kernel Network Tunnel"); the values are the
// ones every interoperable implementation uses.
const (
	// RekeyAfterMessages: after this many messages under one keypair the
	// sender starts a new handshake (§6.1, Rekey-After-Messages = 2^60).
	RekeyAfterMessages uint64 = 1 << 60
	// RejectAfterMessages: a keypair is never used for more messages than
	// this; the counter must stay below it (§6.1, 2^64 − 2^13 − 1, leaving
	// room for the replay window).
	RejectAfterMessages uint64 = ^uint64(0) - (1 << 13)
	// RekeyAfterTime: the initiator of a session starts a new handshake when
	// sending on a keypair this old (§6.1, 120 s).
	RekeyAfterTime = 120 * time.Second
	// RejectAfterTime: a keypair this old is neither used to send nor to
	// receive (§6.1, 180 s).
	RejectAfterTime = 180 * time.Second
	// RekeyAttemptTime: handshake retries stop after this long (§6.4, 90 s).
	RekeyAttemptTime = 90 * time.Second
	// RekeyTimeout: an unanswered initiation is retried after this (§6.4, 5 s),
	// plus a random jitter of up to RekeyTimeoutJitterMax.
	RekeyTimeout = 5 * time.Second
	// RekeyTimeoutJitterMax is the upper bound of the retry jitter (§6.1:
	// "a random amount of up to 333 ms").
	RekeyTimeoutJitterMax = 333 * time.Millisecond
	// KeepaliveTimeout: a peer that received data and sent nothing back for
	// this long sends an empty keepalive (§6.5, 10 s).
	KeepaliveTimeout = 10 * time.Second
	// CookieRefreshTime: the cookie secret rotates, and a received cookie
	// expires, after this long (§5.4.7, 120 s).
	CookieRefreshTime = 120 * time.Second
	// HandshakeInitiationRate bounds how often one peer's initiations are
	// consumed (§5.1 flood protection, 50 per second).
	HandshakeInitiationRate = time.Second / 50
	// MaxTimerHandshakes is how many retries fit in RekeyAttemptTime.
	MaxTimerHandshakes = int(RekeyAttemptTime / RekeyTimeout)
	// NewHandshakeTimeout: data sent without any authenticated reply for
	// this long triggers a new handshake (§6.5, Keepalive + Rekey-Timeout).
	NewHandshakeTimeout = KeepaliveTimeout + RekeyTimeout
	// ZeroKeyMaterialTimeout: with no new handshake for this long, every key
	// is erased (§6.3, 3 × Reject-After-Time).
	ZeroKeyMaterialTimeout = 3 * RejectAfterTime
	// ReceiveRekeyThreshold: an initiator whose keypair is this old when it
	// receives data starts a handshake before the keypair expires, so the
	// session survives a sender that only ever receives (§6.2).
	ReceiveRekeyThreshold = RejectAfterTime - KeepaliveTimeout - RekeyTimeout
)

// Implementation limits (not in the paper).
const (
	// MaxStagedPackets bounds the packets held per peer while a handshake is
	// under way; the oldest are dropped first.
	MaxStagedPackets = 128
	// MaxPeers matches the Linux kernel's limit of 2^20 peers per interface.
	MaxPeers = 1 << 20
	// MaxPeerQueueJobs bounds how many batches one peer may have in flight in
	// each direction, so a flood to or from one peer cannot exhaust buffers.
	MaxPeerQueueJobs = 1024
	// HandshakeQueueSize is the capacity of the handshake work queue. More
	// than an eighth of it in use puts the interface "under load" (§5.3):
	// then MAC2 (a cookie) and the per-source rate limit are required.
	HandshakeQueueSize = 4096
	// UnderLoadHold keeps the under-load state this long after the queue
	// drains, so that an attacker cannot toggle it cheaply.
	UnderLoadHold = time.Second
	// FloodReadPause is how long a receive goroutine waits before reading
	// again after a short batch of handshake messages alone while under
	// load: at 50,000 datagrams a second, 50 of them per read rather than
	// one. It is also the most that data arriving in such a pause waits.
	FloodReadPause = time.Millisecond
	// MessageHeadroom is the offset at which packets sit in data-path
	// buffers: the data message header is written in front of the payload.
	MessageHeadroom = 16
	// MaxPacketSize is the largest inner packet the engine handles.
	MaxPacketSize = 65535
	// sealRoom is what sealing adds behind a packet: padding to a
	// multiple of 16 (at most 15 bytes) and the 16-byte tag.
	sealRoom = 32
	// bufferSize holds headroom + the largest packet + sealRoom: receive
	// buffers, which take whole coalesced (GRO) messages.
	bufferSize = MessageHeadroom + MaxPacketSize + sealRoom
	// MaxBuffers bounds the data-path buffers allocated at once (per
	// direction): a flood drops packets instead of growing memory.
	MaxBuffers = 4096
	// DefaultBatchSize is used when a port reports a batch size of 0.
	DefaultBatchSize = 128
)
