// SPDX-License-Identifier: MIT

// Package fleet is the trust layer of wgplex peer discovery: a fleet
// authority (an Ed25519 key pair, the CA) certifies each node, binding its
// WireGuard public key to a name, the prefixes it may announce, optionally
// the networks its endpoints may be in, a validity window, a serial and a
// node signing key; the node signs what changes often (its endpoints, the
// prefixes it announces now, a sequence number) with that signing key.
//
// Every object has a small versioned binary encoding (docs/fleet.md):
// four magic bytes, a version byte, fixed-size fields in big-endian order,
// length-prefixed variable fields, and an Ed25519 signature over all the
// bytes before it. Decoding is strict: canonical prefixes, bounded counts,
// no trailing bytes, so that one object has exactly one encoding.
//
// Verify is a pure function of its inputs (bytes, trust roots, revocations,
// time, the last sequence number seen), so that it can be fuzzed and tested
// without a registry, a daemon or a clock. The package imports only the
// standard library.
package fleet

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// Version is the encoding version this package writes and reads.
const Version = 1

// Magic numbers: the first four bytes of each encoded object. A signature
// covers them, so that bytes signed as one kind of object can never be
// taken for another.
const (
	MagicCA         = "WGFA" // a CA public key
	MagicCert       = "WGFC" // a node certificate
	MagicRevocation = "WGFL" // a revocation list
	MagicRecord     = "WGFR" // a signed node record
)

// Limits. They bound what a hostile registry can make a node allocate and
// verify; real objects are far below them.
const (
	MaxName          = 64  // bytes of a name
	MaxCertPrefixes  = 255 // prefixes a certificate allows
	MaxCertEndpoints = 255 // endpoint networks a certificate allows
	MaxRecordPrefix  = 255 // prefixes a record announces
	MaxEndpoints     = 16  // endpoints a record announces
	MaxPSKRef        = 255 // bytes of a record's pre-shared key reference
	MaxRevoked       = 1 << 16
	MaxCertSize      = 5 + 8 + 8 + 8 + 8 + 32 + 32 + 1 + MaxName + 1 + MaxCertPrefixes*18 + 1 + MaxCertEndpoints*18 + ed25519.SignatureSize
)

// KeyIDSize is the size of a CA key identifier.
const KeyIDSize = 8

// KeyID names a CA public key in certificates and revocation lists: the
// first eight bytes of its SHA-256. It is a label to find the key among
// the trusted ones, not a security boundary: the signature is checked
// with the full key.
type KeyID [KeyIDSize]byte

// String is the identifier in hexadecimal.
func (id KeyID) String() string { return fmt.Sprintf("%x", id[:]) }

// IDOf is the identifier of a CA public key.
func IDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	var id KeyID
	copy(id[:], sum[:KeyIDSize])
	return id
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed fleet object")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// b64 is the text form of keys and objects in files and on the command
// line: standard base64, as wg(8) writes keys.
var b64 = base64.StdEncoding
