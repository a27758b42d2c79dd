// SPDX-License-Identifier: MIT

package sdk

import (
	"errors"
	"strconv"
	"time"
)

// Refusal reasons: the label values under which the daemon counts what it
// refused from a discovery plugin's stream (Refusal returns them).
const (
	// RefusedMalformed is a record or event that fails the checks.
	RefusedMalformed = "malformed"
	// RefusedTooManyPrefixes is a record with more allowed IPs than
	// WatchLimits.MaxRecordAllowedIPs.
	RefusedTooManyPrefixes = "too_many_prefixes"
	// RefusedTooManyEndpoints is a record with more endpoints than
	// WatchLimits.MaxRecordEndpoints.
	RefusedTooManyEndpoints = "too_many_endpoints"
	// RefusedSnapshotRecords is a snapshot of more records than
	// WatchLimits.MaxSnapshotRecords.
	RefusedSnapshotRecords = "snapshot_too_many_records"
	// RefusedSnapshotPrefixes is a snapshot whose records announce more
	// prefixes in all than WatchLimits.MaxSnapshotPrefixes.
	RefusedSnapshotPrefixes = "snapshot_too_many_prefixes"
	// RefusedSnapshotBytes is a snapshot larger on the wire than
	// WatchLimits.MaxSnapshotBytes.
	RefusedSnapshotBytes = "snapshot_too_large"
	// RefusedSnapshotTimeout is a chunked snapshot whose last chunk did not
	// come within WatchLimits.SnapshotTimeout.
	RefusedSnapshotTimeout = "snapshot_timeout"
	// RefusedProtocol is a stream that breaks the protocol: an update
	// between the chunks of a snapshot, say.
	RefusedProtocol = "protocol"
)

// RefusalReasons lists every reason Refusal can return.
func RefusalReasons() []string {
	return []string{RefusedMalformed, RefusedTooManyPrefixes, RefusedTooManyEndpoints,
		RefusedSnapshotRecords, RefusedSnapshotPrefixes, RefusedSnapshotBytes,
		RefusedSnapshotTimeout, RefusedProtocol}
}

// LimitError is a refusal with its reason. It wraps ErrBadRecord.
type LimitError struct {
	// Reason is one of the Refused constants.
	Reason string
	// Msg says what exceeded what.
	Msg string
}

func (e *LimitError) Error() string { return ErrBadRecord.Error() + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrBadRecord) hold.
func (e *LimitError) Unwrap() error { return ErrBadRecord }

// Refusal is the reason label of an error about what a plugin sent:
// the LimitError's reason, RefusedMalformed for any other error that
// wraps ErrBadRecord, and "" for an error that is no refusal (a broken
// connection, a cancelled context).
func Refusal(err error) string {
	var le *LimitError
	switch {
	case errors.As(err, &le):
		return le.Reason
	case errors.Is(err, ErrBadRecord):
		return RefusedMalformed
	}
	return ""
}

// Defaults of WatchLimits. They sit well above what a fleet of 100,000
// nodes needs and well below what would let one registry exhaust the
// daemon's memory.
const (
	DefaultMaxSnapshotRecords  = 250_000
	DefaultMaxSnapshotPrefixes = 1 << 20
	DefaultMaxSnapshotBytes    = 256 << 20
	DefaultSnapshotTimeout     = 2 * time.Minute
)

// SnapshotChunkBytes is the size a plugin's snapshot chunks stay under
// (one record larger than that goes alone in its chunk; the largest
// record the checks allow is about 80 KiB). The daemon's gRPC receive
// limit on a discovery connection is WatchLimits.MaxSnapshotBytes, so
// that a plugin from before chunks can still send its snapshot as one
// message up to the size the daemon would take in chunks (go-plugin's
// own default, 2 GiB, would let one message exhaust the daemon's memory
// before any limit is looked at).
const SnapshotChunkBytes = 1 << 20

// WatchLimits bound what the daemon takes from one discovery stream. A
// zero field takes its default; the per-record fields can only lower
// the limits of Record.Check.
type WatchLimits struct {
	// MaxSnapshotRecords bounds the records of one snapshot (and of the
	// registry view the daemon keeps).
	MaxSnapshotRecords int
	// MaxSnapshotPrefixes bounds the allowed IPs of all the records of
	// one snapshot together.
	MaxSnapshotPrefixes int
	// MaxSnapshotBytes bounds one snapshot's size on the wire, all its
	// chunks together.
	MaxSnapshotBytes int
	// SnapshotTimeout is how long a chunked snapshot may take from its
	// first chunk to its last. One that takes longer is abandoned: the
	// stream is ended, nothing of it is applied, and the watch is opened
	// again later.
	SnapshotTimeout time.Duration
	// MaxRecordAllowedIPs bounds one record's allowed IPs (at most
	// MaxRecordAllowedIPs, the package constant).
	MaxRecordAllowedIPs int
	// MaxRecordEndpoints bounds one record's endpoints (at most
	// MaxRecordEndpoints, the package constant).
	MaxRecordEndpoints int
}

// WithDefaults returns l with every zero field set to its default and the
// per-record fields capped at the package constants.
func (l WatchLimits) WithDefaults() WatchLimits {
	if l.MaxSnapshotRecords <= 0 {
		l.MaxSnapshotRecords = DefaultMaxSnapshotRecords
	}
	if l.MaxSnapshotPrefixes <= 0 {
		l.MaxSnapshotPrefixes = DefaultMaxSnapshotPrefixes
	}
	if l.MaxSnapshotBytes <= 0 {
		l.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if l.SnapshotTimeout <= 0 {
		l.SnapshotTimeout = DefaultSnapshotTimeout
	}
	if l.MaxRecordAllowedIPs <= 0 || l.MaxRecordAllowedIPs > MaxRecordAllowedIPs {
		l.MaxRecordAllowedIPs = MaxRecordAllowedIPs
	}
	if l.MaxRecordEndpoints <= 0 || l.MaxRecordEndpoints > MaxRecordEndpoints {
		l.MaxRecordEndpoints = MaxRecordEndpoints
	}
	return l
}

// CheckRecord applies the per-record limits of l to r (Record.Check has
// already passed, or follows).
func (l WatchLimits) CheckRecord(r *Record) error {
	l = l.WithDefaults()
	if n := len(r.AllowedIPs); n > l.MaxRecordAllowedIPs {
		return tooManyPrefixes(n, l.MaxRecordAllowedIPs)
	}
	if n := len(r.Endpoints); n > l.MaxRecordEndpoints {
		return tooManyEndpoints(n, l.MaxRecordEndpoints)
	}
	return nil
}

func tooManyPrefixes(n, max int) error {
	return &LimitError{Reason: RefusedTooManyPrefixes, Msg: strconv.Itoa(n) + " allowed IPs, at most " + strconv.Itoa(max)}
}

func tooManyEndpoints(n, max int) error {
	return &LimitError{Reason: RefusedTooManyEndpoints, Msg: strconv.Itoa(n) + " endpoints, at most " + strconv.Itoa(max)}
}

// WatchLimiter may be implemented by the sink the daemon hands to
// DiscoveryClient.Watch: its limits then apply instead of the defaults.
type WatchLimiter interface {
	// WatchLimits are the limits of the watch.
	WatchLimits() WatchLimits
}
