// SPDX-License-Identifier: MIT

package core

import (
	"sync/atomic"

	"github.com/wgplex/wgplex/core/noise"
)

// DropReason says why the engine discarded a packet. The reasons are a
// fixed, small set so that they can label a metric.
type DropReason int

// The drop reasons.
const (
	DropNoPeer        DropReason = iota // no peer's allowed IPs contain the destination
	DropUnallowedSrc                    // decrypted source address not in the sending peer's allowed IPs
	DropReplay                          // counter seen before or older than the window
	DropAuth                            // decryption/authentication failed
	DropQueueFull                       // a bounded queue was full
	DropNoKey                           // no usable keypair (expired, unknown index)
	DropTooLarge                        // larger than the engine handles
	DropMalformed                       // not a valid WireGuard message or IP packet
	DropNoEndpoint                      // the peer has no known endpoint
	DropHandshake                       // a handshake message failed a check
	DropRoutingLoop                     // the tunnel's own outer datagram came back out of the device
	DropHandshakeRate                   // a handshake message over its source's rate under load
	numDropReasons
)

var dropReasonNames = [...]string{
	DropNoPeer:        "no_peer",
	DropUnallowedSrc:  "unallowed_src",
	DropReplay:        "replay",
	DropAuth:          "auth",
	DropQueueFull:     "queue_full",
	DropNoKey:         "no_key",
	DropTooLarge:      "too_large",
	DropMalformed:     "malformed",
	DropNoEndpoint:    "no_endpoint",
	DropHandshake:     "handshake_invalid",
	DropRoutingLoop:   "routing_loop",
	DropHandshakeRate: "handshake_rate_limited",
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
	drops                [numDropReasons]atomic.Uint64
	rxPackets, txPackets atomic.Uint64
	rxBytes, txBytes     atomic.Uint64
	initiationsSent      atomic.Uint64
	responsesSent        atomic.Uint64
	// Received handshake messages and cookie replies, by outcome (see
	// Stats). Valid and invalid are counted apart rather than as a total
	// and a part so that each read-out is monotonic on its own.
	initiationsValid, initiationsInvalid     atomic.Uint64
	responsesValid, responsesInvalid         atomic.Uint64
	cookieRepliesValid, cookieRepliesInvalid atomic.Uint64
	handshakesCompleted                      atomic.Uint64
	handshakesAsInitiator                    atomic.Uint64
	handshakesFailed                         atomic.Uint64 // gave up after RekeyAttemptTime
	cookieRepliesSent                        atomic.Uint64
	keypairRotations                         atomic.Uint64
	endpointChanges                          atomic.Uint64
	keepalivesSent                           atomic.Uint64
	keyStoreCalls                            atomic.Uint64
	handshakeDuration                        histogram
	deviceReadBatch                          histogram // packets per Device.Read
	socketReadBatch                          histogram // datagrams per ReceiveFunc call
}

// histogram is a fixed-bucket histogram with atomic counters, cheap enough
// for the data path (one add per batch, not per packet).
type histogram struct {
	bounds  []float64
	buckets []atomic.Uint64 // len(bounds)+1, the last is +Inf
	sum     atomic.Uint64   // in units of the observation (nanoseconds or packets)
	count   atomic.Uint64
}

func newHistogram(bounds []float64) histogram {
	return histogram{bounds: bounds, buckets: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64, raw uint64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sum.Add(raw)
	h.count.Add(1)
}

// Histogram is a read-out of a fixed-bucket histogram: Counts[i] counts
// observations <= Bounds[i] and above Bounds[i-1]; the last count is
// everything above the last bound. Sum is in the histogram's unit.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
	Count  uint64
}

func (h *histogram) read(scale float64) Histogram {
	out := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.buckets))}
	for i := range h.buckets {
		out.Counts[i] = h.buckets[i].Load()
	}
	out.Sum = float64(h.sum.Load()) * scale
	out.Count = h.count.Load()
	return out
}

// Bucket bounds: handshake durations in seconds (a local handshake takes
// about a millisecond; retries add multiples of Rekey-Timeout), batch sizes
// in packets.
var (
	handshakeBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 90}
	batchBounds     = []float64{1, 2, 4, 8, 16, 32, 64, 128}
)

// Stats is a read-out of the interface-wide counters.
type Stats struct {
	Drops                map[DropReason]uint64
	RxPackets, TxPackets uint64
	RxBytes, TxBytes     uint64
	InitiationsSent      uint64
	// InitiationsReceived and ResponsesReceived count every such message
	// of the right size received while up, valid or not, answered with a
	// cookie or not; DropHandshake counts the rejected ones.
	// InitiationsInvalid and ResponsesInvalid are the part of them that
	// was not acted on: a bad MAC, a failed decryption, an unknown index, a
	// replayed or too frequent initiation, a refusal by the rate limiter,
	// or a cookie reply sent instead under load. Anyone can send those, so
	// only the rest (received minus invalid) shows real handshake traffic.
	InitiationsReceived uint64
	InitiationsInvalid  uint64
	ResponsesSent       uint64
	ResponsesReceived   uint64
	ResponsesInvalid    uint64
	// HandshakesCompleted counts sessions established in either role;
	// HandshakesAsInitiator those this side initiated (the rest it answered).
	HandshakesCompleted   uint64
	HandshakesAsInitiator uint64
	HandshakesFailed      uint64
	CookieRepliesSent     uint64
	// CookieRepliesReceived counts every cookie reply received;
	// CookieRepliesInvalid those that matched no handshake of ours or did
	// not decrypt.
	CookieRepliesReceived uint64
	CookieRepliesInvalid  uint64
	KeypairRotations      uint64
	EndpointChanges       uint64
	KeepalivesSent        uint64
	// KeyStoreCalls counts static-key DH operations asked of the KeyStore.
	KeyStoreCalls uint64
	// UnderLoad is true while handshakes need cookies (§5.3).
	UnderLoad bool
	// Peers is the number of configured peers.
	Peers int
	// HandshakeDuration: from the first initiation to the response being
	// consumed, for handshakes this side initiated; in seconds.
	HandshakeDuration Histogram
	// DeviceReadBatch and SocketReadBatch: packets per read call on the send
	// and receive paths.
	DeviceReadBatch Histogram
	SocketReadBatch Histogram
}

func (s *stats) drop(r DropReason) { s.drops[r].Add(1) }

// received counts one received handshake message or cookie reply of type
// typ by whether it was acted on.
func (s *stats) received(typ uint32, valid bool) {
	var v, inv *atomic.Uint64
	switch typ {
	case noise.MessageTypeInitiation:
		v, inv = &s.initiationsValid, &s.initiationsInvalid
	case noise.MessageTypeResponse:
		v, inv = &s.responsesValid, &s.responsesInvalid
	case noise.MessageTypeCookieReply:
		v, inv = &s.cookieRepliesValid, &s.cookieRepliesInvalid
	default:
		return
	}
	if valid {
		v.Add(1)
	} else {
		inv.Add(1)
	}
}
