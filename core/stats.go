package core

import "sync/atomic"

// DropReason says why the engine discarded a packet. The reasons are a
// fixed, small set so that they can label a metric.
type DropReason int

// The drop reasons.
const (
	DropNoPeer       DropReason = iota // no peer's allowed IPs contain the destination
	DropUnallowedSrc                   // decrypted source address not in the sending peer's allowed IPs
	DropReplay                         // counter seen before or older than the window
	DropAuth                           // decryption/authentication failed
	DropQueueFull                      // a bounded queue was full
	DropNoKey                          // no usable keypair (expired, unknown index)
	DropTooLarge                       // larger than the engine handles
	DropMalformed                      // not a valid WireGuard message or IP packet
	DropNoEndpoint                     // the peer has no known endpoint
	DropHandshake                      // a handshake message failed a check
	numDropReasons
)

var dropReasonNames = [...]string{
	DropNoPeer:       "no_peer",
	DropUnallowedSrc: "unallowed_src",
	DropReplay:       "replay",
	DropAuth:         "auth",
	DropQueueFull:    "queue_full",
	DropNoKey:        "no_key",
	DropTooLarge:     "too_large",
	DropMalformed:    "malformed",
	DropNoEndpoint:   "no_endpoint",
	DropHandshake:    "handshake_invalid",
}

// String returns the reason's metric label.
func (r DropReason) String() string {
	if r >= 0 && int(r) < len(dropReasonNames) {
		return dropReasonNames[r]
	}
	return "unknown"
}

// DropReasons lists every reason, for exporters that pre-register labels.
func DropReasons() []DropReason {
	out := make([]DropReason, numDropReasons)
	for i := range out {
		out[i] = DropReason(i)
	}
	return out
}

// stats are the interface-wide counters. They are plain atomics so that
// the data path pays one atomic add and the metrics exporter reads them
// without locks.
type stats struct {
	drops                  [numDropReasons]atomic.Uint64
	rxPackets, txPackets   atomic.Uint64
	rxBytes, txBytes       atomic.Uint64
	initiationsSent        atomic.Uint64
	initiationsReceived    atomic.Uint64
	responsesSent          atomic.Uint64
	responsesReceived      atomic.Uint64
	handshakesCompleted    atomic.Uint64
	handshakesFailed       atomic.Uint64 // gave up after RekeyAttemptTime
	cookieRepliesSent      atomic.Uint64
	cookieRepliesReceived  atomic.Uint64
	keypairRotations       atomic.Uint64
	endpointChanges        atomic.Uint64
	keepalivesSent         atomic.Uint64
	keyStoreCalls          atomic.Uint64
	handshakeDurationNanos atomic.Uint64
	handshakeDurationCount atomic.Uint64
}

// Stats is a read-out of the interface-wide counters.
type Stats struct {
	Drops                 map[DropReason]uint64
	RxPackets, TxPackets  uint64
	RxBytes, TxBytes      uint64
	InitiationsSent       uint64
	InitiationsReceived   uint64
	ResponsesSent         uint64
	ResponsesReceived     uint64
	HandshakesCompleted   uint64
	HandshakesFailed      uint64
	CookieRepliesSent     uint64
	CookieRepliesReceived uint64
	KeypairRotations      uint64
	EndpointChanges       uint64
	KeepalivesSent        uint64
	// KeyStoreCalls counts static-key DH operations asked of the KeyStore.
	KeyStoreCalls uint64
	// UnderLoad is true while handshakes need cookies (§5.3).
	UnderLoad bool
	// Peers is the number of configured peers.
	Peers int
}

func (s *stats) drop(r DropReason) { s.drops[r].Add(1) }
