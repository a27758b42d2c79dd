// SPDX-License-Identifier: MIT

package sdk

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
)

// KeySize is the length of every Curve25519 key and X25519 result.
const KeySize = 32

// Key is a Curve25519 public key or an X25519 result.
type Key = [KeySize]byte

// KeyVault is the interface a key vault plugin implements. The vault holds
// one static Curve25519 private key; nothing in the interface can return
// it. Methods are called concurrently and must be safe for that. The
// context carries the daemon's deadline for the call.
type KeyVault interface {
	// PublicKey returns the public half of the static key. It must not
	// change while the plugin runs, nor across restarts with the same
	// configuration: the daemon caches it and stops serving handshakes if
	// it changes.
	PublicKey(ctx context.Context) (Key, error)
	// DH returns X25519(static private key, peer). An all-zero result
	// (peer is a low-order point) must be reported as an error.
	DH(ctx context.Context, peer Key) (Key, error)
}

// KeyGenerator is implemented by vaults that can create their key
// themselves (a hardware token). `wgplex vault-genkey` uses it.
type KeyGenerator interface {
	// GenerateKey creates a new static key and returns its public half. If
	// the vault holds a key already it fails with ErrKeyExists unless
	// overwrite is true.
	GenerateKey(ctx context.Context, overwrite bool) (Key, error)
}

// RecordSigner is implemented by vaults that also hold the node's fleet
// signing key (docs/fleet.md), so that the key need not be a file the
// daemon reads. The SDK passes only fleet records (RecordMagic first, at
// most MaxSignedRecord bytes) to it.
type RecordSigner interface {
	// SignRecord returns the Ed25519 signature of msg and the public key
	// it verifies under.
	SignRecord(ctx context.Context, msg []byte) (sig, pub []byte, err error)
}

// RecordMagic starts every message a vault signs: the magic and version of
// a signed fleet record.
const RecordMagic = "WGFR\x01"

// MaxSignedRecord bounds a message to sign.
const MaxSignedRecord = MaxRecordSigned

// Errors with a meaning on both sides of the gRPC connection: a plugin
// returns them (wrapped or not) and the daemon gets them back, testable with
// errors.Is.
var (
	// ErrNotSupported: the vault does not implement the method.
	ErrNotSupported = errors.New("not supported by this key vault")
	// ErrKeyExists: GenerateKey without overwrite on a vault that has a key.
	ErrKeyExists = errors.New("the key vault already holds a key")
	// ErrNoKey: the vault has no key (yet).
	ErrNoKey = errors.New("the key vault holds no key")
	// ErrBadReply: the other side sent something malformed (a key of the
	// wrong length, an all-zero key or shared secret).
	ErrBadReply = errors.New("malformed key vault message")
)

// checkKey turns a wire field into a Key, refusing wrong lengths and the
// all-zero value (never a valid public key nor a usable X25519 result).
func checkKey(what string, b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return k, fmt.Errorf("%w: %s is %d bytes, want %d", ErrBadReply, what, len(b), KeySize)
	}
	copy(k[:], b)
	if isZero(k) {
		return k, fmt.Errorf("%w: %s is all zeros", ErrBadReply, what)
	}
	return k, nil
}

// isZero reports whether k is all zeros, in constant time: k may be a
// shared secret.
func isZero(k Key) bool {
	var zero Key
	return subtle.ConstantTimeCompare(k[:], zero[:]) == 1
}
