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

// CA is a fleet authority's public key with a label: what a node trusts.
type CA struct {
	// Name labels the CA in logs and in `wgplex fleet show`.
	Name string
	// Key is the Ed25519 public key.
	Key ed25519.PublicKey
}

// ID is the CA's key identifier.
func (c *CA) ID() KeyID { return IDOf(c.Key) }

// Marshal encodes the CA public key.
func (c *CA) Marshal() ([]byte, error) {
	if len(c.Key) != ed25519.PublicKeySize {
		return nil, errors.New("CA key is not an Ed25519 public key")
	}
	if len(c.Name) > MaxName || !printable(c.Name) {
		return nil, fmt.Errorf("CA name is not printable UTF-8 of at most %d bytes", MaxName)
	}
	w := writer{b: make([]byte, 0, 5+32+1+len(c.Name))}
	w.bytes([]byte(MagicCA))
	w.u8(Version)
	w.bytes(c.Key)
	w.str(c.Name)
	return w.b, nil
}

// ParseCA decodes a CA public key.
func ParseCA(data []byte) (*CA, error) {
	r := reader{b: data}
	r.header(MagicCA, "CA key")
	key := r.take(ed25519.PublicKeySize, "CA key")
	name := r.str(MaxName, "CA name")
	r.end("CA key")
	if r.err != nil {
		return nil, r.err
	}
	return &CA{Name: name, Key: ed25519.PublicKey(slices.Clone(key))}, nil
}

// Certificate binds a node's WireGuard key to what it may announce. The CA
// signs it once; the node carries it in every record.
type Certificate struct {
	// Serial identifies the certificate for revocation; unique per CA.
	Serial uint64
	// NotBefore and NotAfter bound its validity, to the second.
	NotBefore, NotAfter time.Time
	// Issuer is the identifier of the signing CA's key.
	Issuer KeyID
	// PublicKey is the node's WireGuard (Curve25519) public key.
	PublicKey [32]byte
	// SigningKey is the public half of the node's Ed25519 signing key,
	// which signs the node's records.
	SigningKey ed25519.PublicKey
	// Name labels the node.
	Name string
	// Prefixes are what the node may announce: every prefix of its
	// records must lie inside one of them.
	Prefixes []netip.Prefix
	// EndpointNets, when not empty, are the networks the node's announced
	// endpoints must lie in.
	EndpointNets []netip.Prefix
	// Signature is the CA's signature over the encoding before it.
	Signature []byte

	raw []byte // the encoding, kept by ParseCertificate and Sign
}

// check reports whether c can be encoded.
func (c *Certificate) check() error {
	switch {
	case len(c.SigningKey) != ed25519.PublicKeySize:
		return errors.New("certificate: signing key is not an Ed25519 public key")
	case len(c.Name) > MaxName || !printable(c.Name):
		return fmt.Errorf("certificate: name is not printable UTF-8 of at most %d bytes", MaxName)
	case len(c.Prefixes) > MaxCertPrefixes:
		return fmt.Errorf("certificate: more than %d prefixes", MaxCertPrefixes)
	case len(c.EndpointNets) > MaxCertEndpoints:
		return fmt.Errorf("certificate: more than %d endpoint networks", MaxCertEndpoints)
	case c.NotAfter.Before(c.NotBefore):
		return errors.New("certificate: not-after is before not-before")
	}
	for _, p := range append(slices.Clone(c.Prefixes), c.EndpointNets...) {
		if !p.IsValid() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return fmt.Errorf("certificate: invalid prefix %s", p)
		}
	}
	return nil
}

// tbs is the part of the encoding the CA signs.
func (c *Certificate) tbs() []byte {
	w := writer{b: make([]byte, 0, 128+18*(len(c.Prefixes)+len(c.EndpointNets)))}
	w.bytes([]byte(MagicCert))
	w.u8(Version)
	w.u64(c.Serial)
	w.u64(uint64(c.NotBefore.Unix()))
	w.u64(uint64(c.NotAfter.Unix()))
	w.bytes(c.Issuer[:])
	w.bytes(c.PublicKey[:])
	w.bytes(c.SigningKey)
	w.str(c.Name)
	w.u8(uint8(len(c.Prefixes)))
	for _, p := range c.Prefixes {
		w.prefix(p)
	}
	w.u8(uint8(len(c.EndpointNets)))
	for _, p := range c.EndpointNets {
		w.prefix(p)
	}
	return w.b
}

// Sign fills in the issuer and signature of c with the CA's private key
// and returns the encoding.
func (c *Certificate) Sign(ca ed25519.PrivateKey) ([]byte, error) {
	if len(ca) != ed25519.PrivateKeySize {
		return nil, errors.New("certificate: CA key is not an Ed25519 private key")
	}
	c.Issuer = IDOf(ca.Public().(ed25519.PublicKey))
	for i := range c.Prefixes {
		c.Prefixes[i] = c.Prefixes[i].Masked()
	}
	for i := range c.EndpointNets {
		c.EndpointNets[i] = c.EndpointNets[i].Masked()
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	tbs := c.tbs()
	c.Signature = ed25519.Sign(ca, tbs)
	c.raw = append(tbs, c.Signature...)
	return slices.Clone(c.raw), nil
}

// Marshal is the encoding of a certificate that was signed or parsed.
func (c *Certificate) Marshal() ([]byte, error) {
	if c.raw == nil {
		return nil, errors.New("certificate: not signed")
	}
	return slices.Clone(c.raw), nil
}

// ParseCertificate decodes a certificate. It checks the form only; Verify
// checks the signature and validity.
func ParseCertificate(data []byte) (*Certificate, error) {
	if len(data) > MaxCertSize {
		return nil, malformed("certificate larger than %d bytes", MaxCertSize)
	}
	r := reader{b: data}
	c := &Certificate{}
	r.header(MagicCert, "certificate")
	c.Serial = r.u64("serial")
	nb, na := int64(r.u64("not-before")), int64(r.u64("not-after"))
	copy(c.Issuer[:], r.take(KeyIDSize, "issuer"))
	copy(c.PublicKey[:], r.take(32, "public key"))
	c.SigningKey = ed25519.PublicKey(slices.Clone(r.take(ed25519.PublicKeySize, "signing key")))
	c.Name = r.str(MaxName, "name")
	n := int(r.u8("prefix count"))
	for i := 0; i < n && r.err == nil; i++ {
		c.Prefixes = append(c.Prefixes, r.prefix("prefix"))
	}
	n = int(r.u8("endpoint network count"))
	for i := 0; i < n && r.err == nil; i++ {
		c.EndpointNets = append(c.EndpointNets, r.prefix("endpoint network"))
	}
	c.Signature = slices.Clone(r.take(ed25519.SignatureSize, "signature"))
	r.end("certificate")
	if r.err != nil {
		return nil, r.err
	}
	if na < nb {
		return nil, malformed("certificate: not-after is before not-before")
	}
	c.NotBefore, c.NotAfter = time.Unix(nb, 0).UTC(), time.Unix(na, 0).UTC()
	c.raw = slices.Clone(data)
	return c, nil
}

// signedPart is the encoding without the signature.
func (c *Certificate) signedPart() []byte { return c.raw[:len(c.raw)-ed25519.SignatureSize] }

// AllowsPrefix reports whether p lies inside one of the certificate's
// prefixes.
func (c *Certificate) AllowsPrefix(p netip.Prefix) bool { return within(p, c.Prefixes) }

// AllowsEndpoint reports whether a is in one of the certificate's endpoint
// networks, or the certificate names none.
func (c *Certificate) AllowsEndpoint(a netip.Addr) bool {
	if len(c.EndpointNets) == 0 {
		return true
	}
	a = a.Unmap()
	for _, n := range c.EndpointNets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// within reports whether p lies inside one of nets.
func within(p netip.Prefix, nets []netip.Prefix) bool {
	for _, n := range nets {
		if n.Bits() <= p.Bits() && n.Addr().Is4() == p.Addr().Is4() && n.Contains(p.Addr()) {
			return true
		}
	}
	return false
}
