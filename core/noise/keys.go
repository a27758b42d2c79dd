// SPDX-License-Identifier: MIT

package noise

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
)

// KeySize is the length in bytes of every WireGuard key: Curve25519 private and
// public keys and the symmetric pre-shared key (whitepaper §5.4).
const KeySize = 32

// PrivateKey is a clamped Curve25519 scalar. It is a secret: it has no String
// method on purpose, so that it cannot end up in a log line by accident.
type PrivateKey [KeySize]byte

// PublicKey is a Curve25519 point, the identity of an interface or a peer.
type PublicKey [KeySize]byte

// PresharedKey is the optional symmetric key mixed into the handshake
// (the "psk2" of Noise_IKpsk2). All zero means "no pre-shared key".
type PresharedKey [KeySize]byte

// ErrKeyFormat is returned by the key parsers; it never quotes the input,
// which may be a secret.
var ErrKeyFormat = errors.New("invalid key: want 32 bytes as base64 (44 chars) or hex (64 chars)")

// ErrLowOrderPoint is returned when a Diffie-Hellman result is all zero, which
// happens only for low-order public keys that an attacker chose.
var ErrLowOrderPoint = errors.New("x25519 result is all zero (low-order public key)")

// GeneratePrivateKey returns a fresh clamped private key from crypto/rand.
func GeneratePrivateKey() (PrivateKey, error) {
	var k PrivateKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("generate private key: %w", err)
	}
	k.clamp()
	return k, nil
}

// GeneratePresharedKey returns 32 random bytes.
func GeneratePresharedKey() (PresharedKey, error) {
	var k PresharedKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("generate preshared key: %w", err)
	}
	return k, nil
}

// clamp applies the Curve25519 scalar clamping so that a key read from a
// file or the UAPI behaves the same whether or not its author clamped it.
func (k *PrivateKey) clamp() {
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
}

// Clamped returns k with Curve25519 clamping applied.
func (k PrivateKey) Clamped() PrivateKey { k.clamp(); return k }

// PublicKey derives the public key of k.
func (k PrivateKey) PublicKey() PublicKey {
	var pub PublicKey
	kk := k.Clamped()
	curve25519.ScalarBaseMult((*[32]byte)(&pub), (*[32]byte)(&kk))
	return pub
}

// SharedSecret computes X25519(k, peer). It fails for a low-order peer key.
func (k PrivateKey) SharedSecret(peer PublicKey) ([KeySize]byte, error) {
	var out [KeySize]byte
	kk := k.Clamped()
	r, err := curve25519.X25519(kk[:], peer[:])
	if err != nil {
		return out, ErrLowOrderPoint
	}
	copy(out[:], r)
	return out, nil
}

// IsZero reports whether the key is all zero ("unset"), in constant time.
func (k PrivateKey) IsZero() bool { return isZero(k[:]) }

// IsZero reports whether the key is all zero.
func (k PublicKey) IsZero() bool { return isZero(k[:]) }

// IsZero reports whether no pre-shared key is set, in constant time.
func (k PresharedKey) IsZero() bool { return isZero(k[:]) }

// Equal compares two private keys in constant time.
func (k PrivateKey) Equal(o PrivateKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// Equal compares two public keys.
func (k PublicKey) Equal(o PublicKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// Equal compares two pre-shared keys in constant time.
func (k PresharedKey) Equal(o PresharedKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

func isZero(b []byte) bool {
	var acc byte
	for _, x := range b {
		acc |= x
	}
	return subtle.ConstantTimeByteEq(acc, 0) == 1
}

// String returns the base64 form used by wg(8) and config files.
func (k PublicKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Short returns the abbreviated form used in log lines, e.g. "peer(AbCd…WxYz)".
func (k PublicKey) Short() string {
	s := k.String()
	return "peer(" + s[:4] + "…" + s[39:43] + ")"
}

// Hex returns the lower-case hex form used by the UAPI.
func (k PublicKey) Hex() string { return hex.EncodeToString(k[:]) }

// Hex returns the lower-case hex form used by the UAPI. Callers must treat the
// result as a secret.
func (k PrivateKey) Hex() string { return hex.EncodeToString(k[:]) }

// Hex returns the lower-case hex form used by the UAPI. Callers must treat the
// result as a secret.
func (k PresharedKey) Hex() string { return hex.EncodeToString(k[:]) }

// Base64 returns the base64 form of the private key (wg genkey's format).
// Callers must treat the result as a secret.
func (k PrivateKey) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

// Base64 returns the base64 form of the pre-shared key.
func (k PresharedKey) Base64() string { return base64.StdEncoding.EncodeToString(k[:]) }

// parseKey accepts 44-character base64 or 64-character hex.
func parseKey(s string) ([KeySize]byte, error) {
	var out [KeySize]byte
	switch len(s) {
	case 44:
		n, err := base64.StdEncoding.Decode(out[:], []byte(s))
		if err != nil || n != KeySize || s[43] != '=' {
			return [KeySize]byte{}, ErrKeyFormat
		}
	case 64:
		n, err := hex.Decode(out[:], []byte(s))
		if err != nil || n != KeySize {
			return [KeySize]byte{}, ErrKeyFormat
		}
	default:
		return out, ErrKeyFormat
	}
	return out, nil
}

// ParsePrivateKey parses a base64 or hex private key. The error never quotes s.
func ParsePrivateKey(s string) (PrivateKey, error) {
	b, err := parseKey(s)
	return PrivateKey(b), err
}

// ParsePublicKey parses a base64 or hex public key.
func ParsePublicKey(s string) (PublicKey, error) {
	b, err := parseKey(s)
	return PublicKey(b), err
}

// ParsePresharedKey parses a base64 or hex pre-shared key. The error never quotes s.
func ParsePresharedKey(s string) (PresharedKey, error) {
	b, err := parseKey(s)
	return PresharedKey(b), err
}

// Identity is the local static key as the handshake sees it: the public half,
// and X25519 with the private half. The private bytes stay behind the
// interface so that a key vault in another process can implement it.
// core.KeyStore has the same method set.
type Identity interface {
	PublicKey() PublicKey
	DH(peer PublicKey) ([KeySize]byte, error)
}
