// SPDX-License-Identifier: MIT

package fleet

import (
	"crypto/ed25519"
	"fmt"
	"time"
)

// Reason is why Verify refused a record. Its String is a short
// snake_case label, stable enough to be a metric label value.
type Reason uint8

// The reasons, in the order Verify checks them.
const (
	OK                Reason = iota
	Malformed                // the bytes are not a record
	UnknownCA                // no trusted CA has the certificate's issuer id
	BadCASignature           // the CA did not sign this certificate
	NotYetValid              // now is before the certificate's not-before
	Expired                  // now is after the certificate's not-after
	Revoked                  // the certificate's serial is revoked
	KeyMismatch              // the record's key is not the certificate's
	BadSignature             // the node signing key did not sign the record
	PrefixOutsideCert        // an announced prefix lies outside the certificate's
	EndpointOutside          // an endpoint lies outside the certificate's networks
	StaleSequence            // the sequence is not newer than the last seen
)

var reasonNames = [...]string{
	OK:                "ok",
	Malformed:         "malformed",
	UnknownCA:         "unknown_ca",
	BadCASignature:    "bad_ca_signature",
	NotYetValid:       "not_yet_valid",
	Expired:           "expired",
	Revoked:           "revoked",
	KeyMismatch:       "key_mismatch",
	BadSignature:      "bad_signature",
	PrefixOutsideCert: "prefix_outside_cert",
	EndpointOutside:   "endpoint_outside_allowed",
	StaleSequence:     "stale_sequence",
}

// Reasons lists every refusal reason, for creating metric series at zero.
func Reasons() []Reason {
	out := make([]Reason, 0, len(reasonNames)-1)
	for r := Malformed; int(r) < len(reasonNames); r++ {
		out = append(out, r)
	}
	return out
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason_%d", uint8(r))
}

// Verdict is the outcome of Verify: a reason and, for a refusal, a
// sentence that says what exactly was wrong (for the log).
type Verdict struct {
	Reason Reason
	Detail string
}

// OK reports whether the record was accepted.
func (v Verdict) OK() bool { return v.Reason == OK }

// Error makes a refusal usable as an error.
func (v Verdict) Error() string {
	if v.Detail == "" {
		return v.Reason.String()
	}
	return v.Reason.String() + ": " + v.Detail
}

func refuse(r Reason, format string, a ...any) Verdict {
	return Verdict{Reason: r, Detail: fmt.Sprintf(format, a...)}
}

// Roots are the trusted CA keys; several at once, so that a fleet can move
// to a new CA without a flag day.
type Roots struct {
	cas map[KeyID]*CA
}

// NewRoots makes a set of trusted CAs. Two keys with the same identifier
// cannot be told apart and are refused.
func NewRoots(cas ...*CA) (*Roots, error) {
	r := &Roots{cas: make(map[KeyID]*CA, len(cas))}
	for _, ca := range cas {
		if len(ca.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("CA %q: not an Ed25519 public key", ca.Name)
		}
		id := ca.ID()
		if old, dup := r.cas[id]; dup && !old.Key.Equal(ca.Key) {
			return nil, fmt.Errorf("CAs %q and %q share the key id %s", old.Name, ca.Name, id)
		}
		r.cas[id] = ca
	}
	return r, nil
}

// Lookup finds a trusted CA by key identifier.
func (r *Roots) Lookup(id KeyID) (*CA, bool) {
	if r == nil {
		return nil, false
	}
	ca, ok := r.cas[id]
	return ca, ok
}

// Len is the number of trusted CAs.
func (r *Roots) Len() int {
	if r == nil {
		return 0
	}
	return len(r.cas)
}

// Revocations are the serials revoked by each trusted CA.
type Revocations struct {
	byCA map[KeyID]*RevocationList
}

// NewRevocations checks each list against its CA in roots and indexes
// them; a list from an unknown CA or with a bad signature is an error,
// not something to skip silently. For one CA the newest list wins.
func NewRevocations(roots *Roots, lists ...*RevocationList) (*Revocations, error) {
	rv := &Revocations{byCA: make(map[KeyID]*RevocationList, len(lists))}
	for _, l := range lists {
		ca, ok := roots.Lookup(l.Issuer)
		if !ok {
			return nil, fmt.Errorf("revocation list issued by %s, which is not a trusted CA", l.Issuer)
		}
		if err := l.CheckSignature(ca); err != nil {
			return nil, err
		}
		if old := rv.byCA[l.Issuer]; old == nil || l.Issued.After(old.Issued) {
			rv.byCA[l.Issuer] = l
		}
	}
	return rv, nil
}

// Revoked reports whether the CA with id revoked serial.
func (rv *Revocations) Revoked(id KeyID, serial uint64) bool {
	if rv == nil {
		return false
	}
	l := rv.byCA[id]
	return l != nil && l.Revoked(serial)
}

// Verify decides whether to believe a record: the certificate must be
// signed by a trusted CA, valid at now and not revoked; the record must be
// for the certificate's key, signed by the certificate's signing key,
// announce only prefixes inside the certificate's and endpoints inside
// its networks (when it names any), and carry a sequence number greater
// than lastSeq. It returns the record when the verdict is OK, and
// otherwise the first reason found, in the order of the Reason constants.
func Verify(data []byte, roots *Roots, revoked *Revocations, now time.Time, lastSeq uint64) (*Record, Verdict) {
	rec, err := ParseRecord(data)
	if err != nil {
		return nil, refuse(Malformed, "%v", err)
	}
	c := rec.Cert
	ca, ok := roots.Lookup(c.Issuer)
	if !ok {
		return nil, refuse(UnknownCA, "certificate %q (serial %d) issued by %s, not a trusted CA", c.Name, c.Serial, c.Issuer)
	}
	if !ed25519.Verify(ca.Key, c.signedPart(), c.Signature) {
		return nil, refuse(BadCASignature, "certificate %q (serial %d) does not carry CA %q's signature", c.Name, c.Serial, ca.Name)
	}
	if now.Before(c.NotBefore) {
		return nil, refuse(NotYetValid, "certificate %q (serial %d) valid from %s", c.Name, c.Serial, c.NotBefore.Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return nil, refuse(Expired, "certificate %q (serial %d) expired at %s", c.Name, c.Serial, c.NotAfter.Format(time.RFC3339))
	}
	if revoked.Revoked(c.Issuer, c.Serial) {
		return nil, refuse(Revoked, "certificate %q serial %d is revoked by CA %q", c.Name, c.Serial, ca.Name)
	}
	if rec.PublicKey != c.PublicKey {
		return nil, refuse(KeyMismatch, "record for another key than certificate %q's", c.Name)
	}
	if !ed25519.Verify(c.SigningKey, rec.raw[:len(rec.raw)-ed25519.SignatureSize], rec.Signature) {
		return nil, refuse(BadSignature, "record of %q not signed by its certificate's signing key", c.Name)
	}
	for _, p := range rec.Prefixes {
		if !c.AllowsPrefix(p) {
			return nil, refuse(PrefixOutsideCert, "%q announces %s, outside its certificate's prefixes", c.Name, p)
		}
	}
	for _, e := range rec.Endpoints {
		if !c.AllowsEndpoint(e.Addr()) {
			return nil, refuse(EndpointOutside, "%q announces endpoint %s, outside its certificate's networks", c.Name, e)
		}
	}
	if rec.Sequence <= lastSeq {
		return nil, refuse(StaleSequence, "%q record sequence %d, already seen %d", c.Name, rec.Sequence, lastSeq)
	}
	return rec, Verdict{}
}
