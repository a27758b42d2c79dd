// SPDX-License-Identifier: MIT

package fleet

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"time"
)

// RevocationList is a CA-signed list of the serials of certificates that
// must no longer be accepted, whatever their validity window says. A new
// list replaces the old one; it is distributed to nodes like the CA key
// (a file on each node), not through the registry, which could withhold
// it.
type RevocationList struct {
	// Issuer is the identifier of the signing CA's key; the serials are
	// that CA's.
	Issuer KeyID
	// Issued is when the list was made, to the second.
	Issued time.Time
	// Serials are the revoked serials, sorted, without duplicates.
	Serials []uint64
	// Signature is the CA's signature over the encoding before it.
	Signature []byte

	raw []byte
}

func (l *RevocationList) tbs() []byte {
	w := writer{b: make([]byte, 0, 32+8*len(l.Serials))}
	w.bytes([]byte(MagicRevocation))
	w.u8(Version)
	w.bytes(l.Issuer[:])
	w.u64(uint64(l.Issued.Unix()))
	w.u32(uint32(len(l.Serials)))
	for _, s := range l.Serials {
		w.u64(s)
	}
	return w.b
}

// Sign sorts and deduplicates the serials, fills in the issuer and the
// signature, and returns the encoding.
func (l *RevocationList) Sign(ca ed25519.PrivateKey) ([]byte, error) {
	if len(ca) != ed25519.PrivateKeySize {
		return nil, errors.New("revocation list: CA key is not an Ed25519 private key")
	}
	slices.Sort(l.Serials)
	l.Serials = slices.Compact(l.Serials)
	if len(l.Serials) > MaxRevoked {
		return nil, fmt.Errorf("revocation list: more than %d serials", MaxRevoked)
	}
	l.Issuer = IDOf(ca.Public().(ed25519.PublicKey))
	tbs := l.tbs()
	l.Signature = ed25519.Sign(ca, tbs)
	l.raw = append(tbs, l.Signature...)
	return slices.Clone(l.raw), nil
}

// ParseRevocationList decodes a revocation list; the serials must be
// strictly increasing. CheckSignature checks it against its CA.
func ParseRevocationList(data []byte) (*RevocationList, error) {
	r := reader{b: data}
	l := &RevocationList{}
	r.header(MagicRevocation, "revocation list")
	copy(l.Issuer[:], r.take(KeyIDSize, "issuer"))
	issued := int64(r.u64("issued"))
	n := r.u32("serial count")
	if r.err == nil && n > MaxRevoked {
		r.fail("revocation list: %d serials, at most %d", n, MaxRevoked)
	}
	if r.err == nil && uint64(len(r.b)) < uint64(n)*8 {
		r.fail("truncated serials")
	}
	if r.err == nil {
		l.Serials = make([]uint64, 0, n)
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		s := r.u64("serial")
		if i > 0 && s <= l.Serials[i-1] {
			r.fail("serials not strictly increasing")
		}
		l.Serials = append(l.Serials, s)
	}
	l.Signature = slices.Clone(r.take(ed25519.SignatureSize, "signature"))
	r.end("revocation list")
	if r.err != nil {
		return nil, r.err
	}
	l.Issued = time.Unix(issued, 0).UTC()
	l.raw = slices.Clone(data)
	return l, nil
}

// CheckSignature reports whether ca signed l.
func (l *RevocationList) CheckSignature(ca *CA) error {
	if l.raw == nil {
		return errors.New("revocation list: not signed")
	}
	if ca.ID() != l.Issuer {
		return fmt.Errorf("revocation list issued by %s, not by CA %s", l.Issuer, ca.ID())
	}
	if !ed25519.Verify(ca.Key, l.raw[:len(l.raw)-ed25519.SignatureSize], l.Signature) {
		return errors.New("revocation list: bad CA signature")
	}
	return nil
}

// Revoked reports whether serial is on the list.
func (l *RevocationList) Revoked(serial uint64) bool {
	_, ok := slices.BinarySearch(l.Serials, serial)
	return ok
}
