// SPDX-License-Identifier: MIT

package noise

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Timestamp is a TAI64N label (§5.4.2): 8 bytes of big-endian seconds since
// the TAI64 epoch, then 4 bytes of big-endian nanoseconds. The initiator
// encrypts it into every initiation; the responder keeps the newest one seen
// per peer and drops initiations that are not newer, which stops replay of a
// captured initiation (§5.1).
type Timestamp [timestampSize]byte

// tai64Base is 2^62 + 10: the TAI64 label of the Unix epoch. The 10 s is the
// TAI-UTC offset at 1970; leap seconds since are ignored, as every
// WireGuard implementation ignores them, so labels stay comparable between
// peers that compute them the same way.
const tai64Base = uint64(1)<<62 + 10

// timestampGranularity is the precision kept in the nanosecond field.
// Rounding down to 2^24 ns (~16.8 ms) keeps the label from leaking a
// fine-grained clock reading while still allowing more than the 50
// initiations per second a responder accepts from one peer.
const timestampGranularity = 1 << 24

// TimestampFromTime returns the TAI64N label of t, with the nanoseconds
// rounded down to timestampGranularity.
func TimestampFromTime(t time.Time) Timestamp {
	var ts Timestamp
	ns := t.Nanosecond()
	ns -= ns % timestampGranularity
	binary.BigEndian.PutUint64(ts[:8], tai64Base+uint64(t.Unix()))
	binary.BigEndian.PutUint32(ts[8:], uint32(ns))
	return ts
}

// After reports whether a is strictly newer than b. Both fields are big
// endian, so byte order is time order.
func (a Timestamp) After(b Timestamp) bool {
	return bytes.Compare(a[:], b[:]) > 0
}

// IsZero reports whether the timestamp is unset (no initiation seen yet).
func (a Timestamp) IsZero() bool { return a == Timestamp{} }
