// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// selfSigner signs this node's record with its fleet identity. A record
// is signed again only when what it announces changes, so that the
// published bytes (and the sequence other nodes remember) stay the same
// while nothing changes; the sequence is the time in nanoseconds, which
// keeps growing across restarts of the daemon.
type selfSigner struct {
	id *FleetIdentity

	mu      sync.Mutex
	forRec  sdk.Record // the unsigned record last signed
	signed  []byte
	lastSeq uint64
	lastErr string
}

// sign sets r.Signed; it returns a problem to log (once) when the record
// cannot be signed as it stands, in which case it goes out unsigned and
// other nodes with a CA refuse it.
func (s *selfSigner) sign(r *sdk.Record) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signed != nil && s.forRec.Equal(r) {
		r.Signed = s.signed
		return ""
	}
	c := s.id.Cert
	if core.PublicKey(r.PublicKey) != core.PublicKey(c.PublicKey) {
		return "the interface's public key is not the one in the fleet certificate; publishing an unsigned record"
	}
	fr := &fleet.Record{
		Cert:                c,
		PublicKey:           c.PublicKey,
		PersistentKeepalive: r.PersistentKeepalive,
		PSKRef:              r.PSKRef,
	}
	var dropped []string
	for _, e := range r.Endpoints {
		ap, err := netip.ParseAddrPort(e)
		switch {
		case err != nil:
			dropped = append(dropped, e+" (only addresses can be signed)")
		case !c.AllowsEndpoint(ap.Addr()):
			dropped = append(dropped, e+" (outside the certificate's endpoint networks)")
		case len(fr.Endpoints) < fleet.MaxEndpoints:
			fr.Endpoints = append(fr.Endpoints, ap)
		}
	}
	for _, p := range r.AllowedIPs {
		if c.AllowsPrefix(p.Masked()) && len(fr.Prefixes) < fleet.MaxRecordPrefix {
			fr.Prefixes = append(fr.Prefixes, p.Masked())
		} else {
			dropped = append(dropped, p.String()+" (outside the certificate's prefixes)")
		}
	}
	seq := uint64(time.Now().UnixNano())
	if seq <= s.lastSeq {
		seq = s.lastSeq + 1
	}
	fr.Sequence, fr.Timestamp = seq, time.Now()
	var raw []byte
	var err error
	if s.id.Key != nil {
		raw, err = fr.Sign(s.id.Key)
	} else {
		raw, err = fr.SignWith(c.SigningKey, s.id.Sign)
	}
	if err != nil {
		return fmt.Sprintf("signing this node's record: %v", err)
	}
	s.forRec, s.signed, s.lastSeq = r.Clone(), raw, seq
	r.Signed = raw
	if len(dropped) > 0 {
		return fmt.Sprintf("left out of the signed record: %v", dropped)
	}
	return ""
}

// problem reports msg once per change.
func (s *selfSigner) problem(msg string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := msg != s.lastErr
	s.lastErr = msg
	return changed && msg != ""
}

// sameSelf reports whether the registry's record r is the one this node
// published: what others use from it, ignoring the order of endpoints (a
// plugin may put the best first) and the name (a plugin may fill it in).
func sameSelf(pub, r *sdk.Record) bool {
	if pub.PublicKey != r.PublicKey || !bytes.Equal(pub.Signed, r.Signed) ||
		pub.PersistentKeepalive != r.PersistentKeepalive || pub.PSKRef != r.PSKRef {
		return false
	}
	a, b := slices.Clone(pub.Endpoints), slices.Clone(r.Endpoints)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) && slices.Equal(normalize(pub.AllowedIPs), normalize(r.AllowedIPs))
}

// selfEvent looks at what the registry says about this node's own key: a
// record other than the one published (or none, removed) means someone
// else changed it, and it is published again at once. It reports whether
// k is this node's key.
func (d *Discovery) selfEvent(k sdk.Key, r *sdk.Record) bool {
	d.mu.Lock()
	pub, prev := d.published, d.prevPublished
	if pub == nil || pub.PublicKey != k {
		d.mu.Unlock()
		return false
	}
	if r != nil && (sameSelf(pub, r) || (prev != nil && sameSelf(prev, r))) {
		d.mu.Unlock()
		return true
	}
	d.published = nil // publish again at the next look
	d.mu.Unlock()
	what := "deleted"
	if r != nil {
		what = "changed"
	}
	d.metrics.selfRestored()
	d.book.logs.log(d.log, slog.LevelWarn, "This node's record was "+what+" in the registry by someone else; publishing it again",
		"public_key", core.PublicKey(k).String())
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}
