// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// TrustPolicy is what the daemon believes of a registry. The plugin only
// carries records; every check here runs in the daemon, so that neither a
// registry nor a plugin can make a peer the policy does not allow.
//
// With Roots, a record is used only if its signed part verifies
// (fleet.Verify), and then only what the signature covers is used. Without
// Roots, a record's claims must lie inside Allow; with Allow empty, claims
// that cover a default route (IPv4 shorter than /8, IPv6 shorter than /16)
// are refused. In both cases the book refuses claims overlapping this
// node's or a hand-configured peer's.
type TrustPolicy struct {
	// Roots are the trusted fleet CAs; nil for none.
	Roots *fleet.Roots
	// Revoked are the CAs' revocation lists; nil for none. Revocations,
	// when set, is asked instead at each check (a list reloaded from a
	// file).
	Revoked     *fleet.Revocations
	Revocations func() *fleet.Revocations
	// Allow bounds the prefixes a record may claim without a CA.
	Allow []netip.Prefix
	// Now is the clock certificates are checked against; nil is
	// time.Now.
	Now func() time.Time
}

// FleetIdentity is this node's certificate and what signs its own record:
// the signing key itself, or a function that has it signed elsewhere (a
// key vault that holds the key).
type FleetIdentity struct {
	Cert *fleet.Certificate
	Key  ed25519.PrivateKey
	// Sign, used when Key is nil, returns the signature of msg under the
	// certificate's signing key.
	Sign func(msg []byte) ([]byte, error)
}

// Refusal reasons besides fleet.Reason's: the metric label values.
const (
	reasonUnsigned       = "unsigned"
	reasonOutsideAllow   = "outside_allow"
	reasonTooBroad       = "too_broad"
	reasonOverlap        = "overlap"
	reasonHandConfigured = "hand_configured"
	reasonPSK            = "psk_unavailable"
)

// minBits: without a CA or an allow-list, shorter prefixes are refused,
// so that no record can take a default route or half of one.
const (
	minBits4 = 8
	minBits6 = 16
)

// DiscoveryMetrics are discovery's Prometheus series.
type DiscoveryMetrics struct {
	rejected *prometheus.CounterVec
	restored prometheus.Counter
}

var _ prometheus.Collector = (*DiscoveryMetrics)(nil)

// NewDiscoveryMetrics creates the series, every reason at zero.
func NewDiscoveryMetrics() *DiscoveryMetrics {
	m := &DiscoveryMetrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wgplex_discovery_records_rejected_total",
			Help: "Discovery records, snapshots and streams refused, by reason. A record the trust policy or the claims refuse is counted once per reason; a malformed record, a record or snapshot past the watch limits, and a snapshot never finished are counted each time they come.",
		}, []string{"reason"}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wgplex_discovery_self_restored_total",
			Help: "Times this node found its own record changed or deleted in the registry by someone else and published it again.",
		}),
	}
	for _, r := range fleet.Reasons() {
		m.rejected.WithLabelValues(r.String())
	}
	for _, r := range []string{reasonUnsigned, reasonOutsideAllow, reasonTooBroad, reasonOverlap, reasonHandConfigured, reasonPSK,
		reasonOverflow, reasonTooManyRecords, reasonTooManyPrefixes} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range sdk.RefusalReasons() {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *DiscoveryMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.rejected.Describe(ch)
	m.restored.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *DiscoveryMetrics) Collect(ch chan<- prometheus.Metric) {
	m.rejected.Collect(ch)
	m.restored.Collect(ch)
}

func (m *DiscoveryMetrics) reject(reason string) {
	if m != nil {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

func (m *DiscoveryMetrics) selfRestored() {
	if m != nil {
		m.restored.Inc()
	}
}

// verified is the last record of a key that passed the checks.
type verified struct {
	signed []byte // the signed bytes it came from (CA mode)
	cert   *fleet.Certificate
	rec    sdk.Record // what is used: only the verified fields
}

// trustGate applies a TrustPolicy to records, remembering per key the
// highest sequence seen and the last record that passed, so that a
// replayed or forged update leaves a peer as it was instead of removing
// it. Its state is guarded by the book's lock.
type trustGate struct {
	policy  TrustPolicy
	lastSeq map[core.PublicKey]seqMark
	good    map[core.PublicKey]*verified

	lastRevoked *fleet.Revocations // what the last expiryDue saw
}

// maxRemembered bounds the keys whose last sequence is kept after their
// record left the registry.
const maxRemembered = 1 << 16

func newTrustGate(p TrustPolicy) *trustGate {
	if p.Now == nil {
		p.Now = time.Now
	}
	return &trustGate{policy: p, lastSeq: make(map[core.PublicKey]seqMark), good: make(map[core.PublicKey]*verified)}
}

// gateResult is the gate's answer for one record: the record to use (if
// any), and why the offered one was refused (if it was). A refused update
// of a key with a record that passed before yields that older record and
// the refusal together.
type gateResult struct {
	use    *sdk.Record
	reason string
	detail string
}

func (g *trustGate) revoked() *fleet.Revocations {
	if g.policy.Revocations != nil {
		return g.policy.Revocations()
	}
	return g.policy.Revoked
}

// check runs the policy on record r, filed under key k in the registry.
func (g *trustGate) check(k core.PublicKey, r *sdk.Record) gateResult {
	if g.policy.Roots == nil {
		return g.checkAllow(k, r)
	}
	now := g.policy.Now()
	prev := g.good[k]
	if prev != nil && !g.stillValid(prev, now) {
		delete(g.good, k)
		prev = nil
	}
	fallback := func(reason, detail string) gateResult {
		res := gateResult{reason: reason, detail: detail}
		if prev != nil {
			res.use = &prev.rec
		}
		return res
	}
	if len(r.Signed) == 0 {
		return fallback(reasonUnsigned, "the record carries no signed fleet record")
	}
	if prev != nil && bytes.Equal(prev.signed, r.Signed) {
		return gateResult{use: &prev.rec}
	}
	sum := sha256.Sum256(r.Signed)
	last := g.lastSeq[k]
	if last.sum == sum && last.seq > 0 {
		// The very record accepted last (gone from the registry for a
		// while, a lease that lapsed): not a replay of an older one.
		last.seq--
	}
	rec, v := fleet.Verify(r.Signed, g.policy.Roots, g.revoked(), now, last.seq)
	if !v.OK() {
		return fallback(v.Reason.String(), v.Detail)
	}
	if core.PublicKey(rec.PublicKey) != k {
		return fallback(fleet.KeyMismatch.String(), fmt.Sprintf("record filed under key %s carries %q's certificate for another key", k, rec.Cert.Name))
	}
	use := sdk.Record{
		PublicKey:           sdk.Key(k),
		Name:                rec.Cert.Name,
		AllowedIPs:          slices.Clone(rec.Prefixes),
		PersistentKeepalive: rec.PersistentKeepalive,
		PSKRef:              rec.PSKRef,
		Signed:              slices.Clone(r.Signed),
	}
	for _, e := range rec.Endpoints {
		use.Endpoints = append(use.Endpoints, e.String())
	}
	if err := use.Check(); err != nil {
		return fallback(fleet.Malformed.String(), err.Error())
	}
	g.remember(k, seqMark{rec.Sequence, sum})
	g.good[k] = &verified{signed: use.Signed, cert: rec.Cert, rec: use}
	return gateResult{use: &use}
}

// stillValid re-checks what can change for an unchanged record: time and
// revocation.
func (g *trustGate) stillValid(v *verified, now time.Time) bool {
	return !now.Before(v.cert.NotBefore) && !now.After(v.cert.NotAfter) &&
		!g.revoked().Revoked(v.cert.Issuer, v.cert.Serial)
}

// seqMark is the last accepted record of a key: its sequence and a hash
// of its bytes.
type seqMark struct {
	seq uint64
	sum [sha256.Size]byte
}

func (g *trustGate) remember(k core.PublicKey, seq seqMark) {
	if _, ok := g.lastSeq[k]; !ok && len(g.lastSeq) >= maxRemembered {
		for old := range g.lastSeq {
			if g.good[old] == nil {
				delete(g.lastSeq, old)
				break
			}
		}
	}
	g.lastSeq[k] = seq
}

// checkAllow is the policy without a CA.
func (g *trustGate) checkAllow(k core.PublicKey, r *sdk.Record) gateResult {
	prev := g.good[k]
	fallback := func(reason, detail string) gateResult {
		res := gateResult{reason: reason, detail: detail}
		if prev != nil {
			res.use = &prev.rec
		}
		return res
	}
	for _, p := range r.AllowedIPs {
		p = p.Masked()
		switch {
		case len(g.policy.Allow) > 0:
			if !prefixWithin(p, g.policy.Allow) {
				return fallback(reasonOutsideAllow, fmt.Sprintf("claims %s, outside the allowed prefixes", p))
			}
		case p.Addr().Is4() && p.Bits() < minBits4, !p.Addr().Is4() && p.Bits() < minBits6:
			return fallback(reasonTooBroad, fmt.Sprintf("claims %s, which covers a default route (set --discovery-allow to allow it)", p))
		}
	}
	use := r.Clone()
	g.good[k] = &verified{rec: use}
	if len(g.good) > maxRemembered {
		for old := range g.good {
			if old != k {
				delete(g.good, old)
				break
			}
		}
	}
	return gateResult{use: &use}
}

// forget drops what is remembered of keys no longer in the registry,
// except their last sequence (so that a replay of an older record after
// a deletion is still refused).
func (g *trustGate) forget(present map[core.PublicKey]sdk.Record) {
	for k := range g.good {
		if _, ok := present[k]; !ok {
			delete(g.good, k)
		}
	}
}

// nextExpiry is the earliest end of validity among the certificates in
// use; zero without any.
func (g *trustGate) nextExpiry() time.Time {
	var t time.Time
	for _, v := range g.good {
		if v.cert != nil && (t.IsZero() || v.cert.NotAfter.Before(t)) {
			t = v.cert.NotAfter
		}
	}
	return t
}

// prefixWithin reports whether p lies inside one of nets.
func prefixWithin(p netip.Prefix, nets []netip.Prefix) bool {
	for _, n := range nets {
		if n.Bits() <= p.Bits() && n.Addr().Is4() == p.Addr().Is4() && n.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// fingerprint identifies a record's content for the once-per-record log.
func fingerprint(r *sdk.Record) [8]byte {
	h := sha256.New()
	h.Write(r.PublicKey[:])
	h.Write(r.Signed)
	fmt.Fprint(h, r.Name, r.Endpoints, r.AllowedIPs, r.PersistentKeepalive, r.PSKRef)
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

// noteGate counts and logs a trust refusal once per record and reason:
// the registry is re-read on every event, and a refusal seen again is
// not news. b.mu is held.
func (b *peerBook) noteGate(k core.PublicKey, r *sdk.Record, res gateResult) {
	if res.reason == "" {
		delete(b.gateRefuse, k)
		return
	}
	fp := fingerprint(r)
	mark := res.reason + "/" + string(fp[:])
	if b.gateRefuse[k] == mark {
		return
	}
	b.gateRefuse[k] = mark
	b.metrics.reject(res.reason)
	kept := "none"
	if res.use != nil {
		kept = "the last verified record"
	}
	b.logs.log(b.log, slog.LevelWarn, "Discovery record refused", "peer", k.String(), "name", r.Name,
		"reason", res.reason, "detail", res.detail, "record", fmt.Sprintf("%x", fp), "in_use", kept)
}

// expiryDue reports whether a certificate in use has expired, the
// revocations changed, or a held prefix was let go, since the last
// reconciliation: time alone then changes what is allowed.
func (b *peerBook) expiryDue(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.deadline.IsZero() && now.After(b.deadline) {
		return true
	}
	if b.gate == nil {
		return false
	}
	if rv := b.gate.revoked(); rv != b.gate.lastRevoked {
		b.gate.lastRevoked = rv
		return true
	}
	return false
}

// nextDeadline is when time alone next changes what is allowed (a hold
// or a certificate ends); zero if nothing is due.
func (b *peerBook) nextDeadline() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deadline
}

// noteDeadline moves the next deadline up to t. b.mu is held.
func (b *peerBook) noteDeadline(t time.Time) {
	if !t.IsZero() && (b.deadline.IsZero() || t.Before(b.deadline)) {
		b.deadline = t
	}
}

// resetDeadline computes the next deadline from scratch, leaving out what
// is already past (a full reconciliation has just dealt with it). b.mu is
// held.
func (b *peerBook) resetDeadline(now time.Time) {
	b.deadline = time.Time{}
	if t := b.nextHoldEnd(); t.After(now) {
		b.noteDeadline(t)
	}
	if b.gate != nil {
		if t := b.gate.nextExpiry(); t.After(now) {
			b.noteDeadline(t)
		}
	}
}

// logLimiter bounds the refusal log lines, so that a registry filled with
// junk cannot fill the log: at most logBurst lines per logWindow, and a
// count of the dropped ones with the next line let through.
type logLimiter struct {
	mu      sync.Mutex
	start   time.Time
	n       int
	dropped int
}

const (
	logBurst  = 20
	logWindow = 10 * time.Second
)

func (l *logLimiter) log(log *slog.Logger, lvl slog.Level, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.start) > logWindow {
		l.start, l.n = now, 0
	}
	if l.n >= logBurst {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.n++
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed_before", dropped)
	}
	log.Log(context.Background(), lvl, msg, args...)
}
