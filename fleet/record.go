// SPDX-License-Identifier: MIT

package fleet

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Record is what a node publishes about itself in the registry: its
// certificate and the dynamic part, signed with the node's signing key.
type Record struct {
	// Cert is the node's certificate, carried whole so that any node can
	// verify the record with the CA key alone.
	Cert *Certificate
	// PublicKey is the WireGuard key the record is for; it must be the
	// certificate's.
	PublicKey [32]byte
	// Sequence increases with every record the node publishes; a record
	// older than one already seen is a replay.
	Sequence uint64
	// Timestamp is when the node signed the record (informational).
	Timestamp time.Time
	// PersistentKeepalive is the interval other nodes should use towards
	// this one (seconds, 0 = off).
	PersistentKeepalive uint16
	// PSKRef names a pre-shared key each node reads from its own
	// directory; empty for none.
	PSKRef string
	// Endpoints are where the node receives WireGuard packets.
	Endpoints []netip.AddrPort
	// Prefixes are what the node announces; each inside the certificate's.
	Prefixes []netip.Prefix
	// Signature is the node signing key's signature over the encoding
	// before it.
	Signature []byte

	raw []byte
}

func (rec *Record) tbs(cert []byte) []byte {
	w := writer{b: make([]byte, 0, 64+len(cert)+19*len(rec.Endpoints)+18*len(rec.Prefixes))}
	w.bytes([]byte(MagicRecord))
	w.u8(Version)
	w.u16(uint16(len(cert)))
	w.bytes(cert)
	w.bytes(rec.PublicKey[:])
	w.u64(rec.Sequence)
	w.u64(uint64(rec.Timestamp.UnixNano()))
	w.u16(rec.PersistentKeepalive)
	w.str(rec.PSKRef)
	w.u8(uint8(len(rec.Endpoints)))
	for _, e := range rec.Endpoints {
		w.endpoint(e)
	}
	w.u8(uint8(len(rec.Prefixes)))
	for _, p := range rec.Prefixes {
		w.prefix(p)
	}
	return w.b
}

// Sign signs the record with the node's signing key and returns the
// encoding. The key must be the one the certificate names.
func (rec *Record) Sign(key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("record: the signing key is not an Ed25519 private key")
	}
	return rec.SignWith(key.Public().(ed25519.PublicKey), func(msg []byte) ([]byte, error) {
		return ed25519.Sign(key, msg), nil
	})
}

// SignWith is Sign with the signing done elsewhere (a key vault): sign
// gets the bytes to sign and returns the signature, which must verify
// under pub, the key the certificate names.
func (rec *Record) SignWith(pub ed25519.PublicKey, sign func(msg []byte) ([]byte, error)) ([]byte, error) {
	if rec.Cert == nil || rec.Cert.raw == nil {
		return nil, errors.New("record: no signed certificate")
	}
	if !pub.Equal(rec.Cert.SigningKey) {
		return nil, errors.New("record: the signing key is not the one the certificate names")
	}
	switch {
	case len(rec.Endpoints) > MaxEndpoints:
		return nil, fmt.Errorf("record: more than %d endpoints", MaxEndpoints)
	case len(rec.Prefixes) > MaxRecordPrefix:
		return nil, fmt.Errorf("record: more than %d prefixes", MaxRecordPrefix)
	case len(rec.PSKRef) > MaxPSKRef || !printable(rec.PSKRef):
		return nil, errors.New("record: bad pre-shared key reference")
	}
	for i, e := range rec.Endpoints {
		if !e.IsValid() || e.Port() == 0 || e.Addr().Zone() != "" {
			return nil, fmt.Errorf("record: invalid endpoint %s", e)
		}
		rec.Endpoints[i] = netip.AddrPortFrom(e.Addr().Unmap(), e.Port())
	}
	for i, p := range rec.Prefixes {
		if !p.IsValid() || p.Addr().Zone() != "" {
			return nil, fmt.Errorf("record: invalid prefix %s", p)
		}
		rec.Prefixes[i] = p.Masked()
	}
	tbs := rec.tbs(rec.Cert.raw)
	sig, err := sign(slices.Clone(tbs))
	if err != nil {
		return nil, fmt.Errorf("record: signing: %w", err)
	}
	if !ed25519.Verify(pub, tbs, sig) {
		return nil, errors.New("record: the signature does not verify under the certificate's signing key")
	}
	rec.Signature = slices.Clone(sig)
	rec.raw = append(tbs, rec.Signature...)
	return slices.Clone(rec.raw), nil
}

// ParseRecord decodes a record and the certificate in it. It checks the
// form only; Verify decides whether to believe it.
func ParseRecord(data []byte) (*Record, error) {
	r := reader{b: data}
	rec := &Record{}
	r.header(MagicRecord, "record")
	n := int(r.u16("certificate length"))
	certBytes := r.take(n, "certificate")
	if r.err != nil {
		return nil, r.err
	}
	cert, err := ParseCertificate(certBytes)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	rec.Cert = cert
	copy(rec.PublicKey[:], r.take(32, "public key"))
	rec.Sequence = r.u64("sequence")
	ts := int64(r.u64("timestamp"))
	rec.PersistentKeepalive = r.u16("keepalive")
	rec.PSKRef = r.str(MaxPSKRef, "pre-shared key reference")
	n = int(r.u8("endpoint count"))
	if r.err == nil && n > MaxEndpoints {
		r.fail("%d endpoints, at most %d", n, MaxEndpoints)
	}
	for i := 0; i < n && r.err == nil; i++ {
		rec.Endpoints = append(rec.Endpoints, r.endpoint("endpoint"))
	}
	n = int(r.u8("prefix count"))
	for i := 0; i < n && r.err == nil; i++ {
		rec.Prefixes = append(rec.Prefixes, r.prefix("prefix"))
	}
	rec.Signature = slices.Clone(r.take(ed25519.SignatureSize, "signature"))
	r.end("record")
	if r.err != nil {
		return nil, r.err
	}
	rec.Timestamp = time.Unix(0, ts).UTC()
	rec.raw = slices.Clone(data)
	return rec, nil
}

// Marshal is the encoding of a record that was signed or parsed.
func (rec *Record) Marshal() ([]byte, error) {
	if rec.raw == nil {
		return nil, errors.New("record: not signed")
	}
	return slices.Clone(rec.raw), nil
}
