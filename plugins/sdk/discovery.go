// SPDX-License-Identifier: MIT

package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"unicode/utf8"
)

// KindDiscovery is a peer discovery plugin (service
// wgplex.discovery.v1.Discovery).
const KindDiscovery = "discovery"

// Limits on a Record. They keep one bad registry entry from costing the
// daemon much memory or time; real records are far below them.
const (
	// MaxRecordEndpoints bounds Record.Endpoints.
	MaxRecordEndpoints = 16
	// MaxRecordAllowedIPs bounds Record.AllowedIPs.
	MaxRecordAllowedIPs = 1024
	// MaxRecordName bounds Record.Name and Record.PSKRef, in bytes.
	MaxRecordName = 255
	// MaxRecordSigned bounds Record.Signed, in bytes.
	MaxRecordSigned = 16 << 10
)

// ErrBadRecord is wrapped by every error about a malformed discovery
// record or event, on either side of the connection.
var ErrBadRecord = errors.New("malformed discovery record")

// Record is what one node announces about itself: enough for another node
// to make it a peer. It holds no secret; a pre-shared key is only named.
type Record struct {
	// PublicKey identifies the node.
	PublicKey Key
	// Name labels the node in logs (a host name, a file name); optional.
	Name string
	// Endpoints are where the node receives WireGuard packets, "ip:port",
	// "[ipv6]:port" or "host:port"; the daemon uses the first usable one.
	Endpoints []string
	// AllowedIPs are the prefixes the node announces as its own.
	AllowedIPs []netip.Prefix
	// PersistentKeepalive is the keepalive interval in seconds; 0 is off.
	PersistentKeepalive uint16
	// PSKRef names a pre-shared key that each daemon reads from its own
	// PSK directory (a plain file name); empty for none.
	PSKRef string
	// Signed is the node's signed fleet record (package fleet), carried
	// unchanged by plugins; empty for none. A daemon that trusts a fleet
	// CA believes only what it proves and ignores the fields above.
	Signed []byte
}

// Check reports whether r is a record the daemon can use: a non-zero key,
// endpoints of the form host:port, valid prefixes, a PSK reference that is
// a plain file name, everything within the limits above. Plugins should
// call it before handing a record on; the SDK checks again on both sides.
func (r *Record) Check() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadRecord}, a...)...)
	}
	if isZero(r.PublicKey) {
		return bad("public key is all zeros")
	}
	if len(r.Name) > MaxRecordName || !utf8.ValidString(r.Name) {
		return bad("name is not UTF-8 of at most %d bytes", MaxRecordName)
	}
	if len(r.Endpoints) > MaxRecordEndpoints {
		return tooManyEndpoints(len(r.Endpoints), MaxRecordEndpoints)
	}
	for _, e := range r.Endpoints {
		if err := CheckEndpoint(e); err != nil {
			return bad("%v", err)
		}
	}
	if len(r.AllowedIPs) > MaxRecordAllowedIPs {
		return tooManyPrefixes(len(r.AllowedIPs), MaxRecordAllowedIPs)
	}
	for _, p := range r.AllowedIPs {
		if !p.IsValid() {
			return bad("invalid allowed IP")
		}
	}
	if r.PSKRef != "" && !ValidPSKRef(r.PSKRef) {
		return bad("PSK reference %q is not a plain file name", r.PSKRef)
	}
	if len(r.Signed) > MaxRecordSigned {
		return bad("signed part of %d bytes, at most %d", len(r.Signed), MaxRecordSigned)
	}
	return nil
}

// Equal reports whether r and o announce the same thing.
func (r *Record) Equal(o *Record) bool {
	return r.PublicKey == o.PublicKey && r.Name == o.Name &&
		slices.Equal(r.Endpoints, o.Endpoints) && slices.Equal(r.AllowedIPs, o.AllowedIPs) &&
		r.PersistentKeepalive == o.PersistentKeepalive && r.PSKRef == o.PSKRef &&
		bytes.Equal(r.Signed, o.Signed)
}

// Clone returns a deep copy of r.
func (r Record) Clone() Record {
	r.Endpoints = slices.Clone(r.Endpoints)
	r.AllowedIPs = slices.Clone(r.AllowedIPs)
	r.Signed = bytes.Clone(r.Signed)
	return r
}

// CheckEndpoint reports whether s has the form host:port with a port in
// 1..65535 and a host that is an IP address or a plausible host name.
func CheckEndpoint(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("endpoint %q: %v", s, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("endpoint %q: bad port", s)
	}
	if host == "" || len(host) > 253 {
		return fmt.Errorf("endpoint %q: bad host", s)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	for _, c := range []byte(host) {
		if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("endpoint %q: bad host", s)
		}
	}
	return nil
}

// ValidPSKRef reports whether s can name a pre-shared key: a plain file
// name of letters, digits, '.', '_' and '-', not starting with a dot, so
// that a record can never point the daemon outside its PSK directory.
func ValidPSKRef(s string) bool {
	if s == "" || len(s) > MaxRecordName || s[0] == '.' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '-' || c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Discovery is the interface a peer discovery plugin implements. Methods
// are called concurrently.
type Discovery interface {
	// Publish hands over this node's own record, to be registered (and
	// kept registered) until the next Publish or until the plugin stops.
	// It should return quickly: registering may happen in the background,
	// across registry outages.
	Publish(ctx context.Context, self Record) error
	// Watch streams the registry into sink until ctx is done: a snapshot
	// of every other node first, then updates, and a new snapshot whenever
	// the plugin may have missed updates (a reconnect). Records of this
	// node itself may be sent; the daemon skips them. The daemon may call
	// Watch again after a stream ended; each call starts with a snapshot.
	Watch(ctx context.Context, sink DiscoverySink) error
}

// DiscoverySink receives the registry's events. Its methods fail once the
// stream is gone (the daemon stopped watching); Watch should then return.
// A sink may keep the records it is handed (the daemon applies them on a
// goroutine of its own): do not change them after the call.
type DiscoverySink interface {
	// Snapshot replaces the whole view of the registry.
	Snapshot(records []Record) error
	// Upsert adds a node or replaces its record.
	Upsert(r Record) error
	// Remove takes a node out.
	Remove(key Key) error
}

// InvalidRecordReporter may be implemented by the sink the daemon hands to
// DiscoveryClient.Watch: records that fail Record.Check are then reported
// to it and skipped, instead of silently skipped.
type InvalidRecordReporter interface {
	// InvalidRecord is told why a record was skipped.
	InvalidRecord(err error)
}
