// SPDX-License-Identifier: MIT

// Package cookie implements WireGuard's handshake message authentication
// codes and cookie replies (whitepaper §5.4.4 and §5.4.7).
//
// Every handshake message ends with two 16-byte MACs. MAC1 is keyed with a
// hash of the receiver's static public key, so a receiver can discard
// messages from anyone who does not know whom they are talking to before it
// spends a Diffie-Hellman operation. MAC2 is keyed with a cookie the receiver
// handed out earlier; a receiver under load only proceeds when MAC2 is valid,
// which proves that the sender can receive packets at its source address.
// When MAC2 is missing the receiver answers with an encrypted cookie reply.
//
// The work is split in two, mirroring who holds which key:
//
//   - Checker lives once per device. It knows the local public key, checks
//     incoming MACs and builds cookie replies.
//   - Generator lives once per peer. It knows that peer's public key, adds
//     MACs to outgoing handshake messages and absorbs the cookie replies the
//     peer sends.
//
// Neither reads the clock: callers pass now, so tests can age cookies and
// secrets without sleeping.
package cookie

import (
	"crypto/subtle"
	"errors"
	"time"

	"golang.org/x/crypto/blake2s"
)

// Sizes and offsets of the wire format (whitepaper §5.4.4, §5.4.7).
const (
	// MACSize is the length of MAC1, MAC2 and of a cookie.
	MACSize = 16
	// macsSize is the length of the MAC1||MAC2 trailer of a handshake message;
	// anything shorter than this cannot carry MACs at all.
	macsSize = 2 * MACSize
	// NonceSize is the length of the XChaCha20-Poly1305 nonce in a reply.
	NonceSize = 24
	// ReplySize is the length of a cookie reply message: type, receiver
	// index, nonce, and the sealed cookie with its 16-byte tag.
	ReplySize = 4 + 4 + NonceSize + MACSize + 16
	// MessageTypeReply is the message type of a cookie reply.
	MessageTypeReply = 3

	// SecretMaxAge is how long the checker's random secret lives, and so how
	// long a cookie handed out by it stays valid (whitepaper §5.4.7,
	// Cookie-Refresh-Time).
	SecretMaxAge = 120 * time.Second
	// CookieLatency is taken off SecretMaxAge when deciding whether a held
	// cookie is still worth sending: the checker may have minted it late in
	// its secret's life, and the message still has to cross the network.
	CookieLatency = 5 * time.Second

	replyNonceOffset  = 8
	replySealedOffset = replyNonceOffset + NonceSize
)

// Domain-separation labels hashed in front of a public key to derive the
// MAC1 key and the cookie-encryption key.
var (
	labelMAC1   = []byte("mac1----")
	labelCookie = []byte("cookie--")
)

// Errors returned by CreateReply and ConsumeReply. A cookie reply is
// unauthenticated input from the network, so callers are expected to drop the
// packet and at most log these.
var (
	// ErrShortMessage: the message is shorter than the MAC trailer.
	ErrShortMessage = errors.New("cookie: message too short to carry MACs")
	// ErrShortBuffer: the output buffer cannot hold a cookie reply.
	ErrShortBuffer = errors.New("cookie: output buffer shorter than a cookie reply")
	// ErrNoLocalKey: the checker has no local public key yet.
	ErrNoLocalKey = errors.New("cookie: no local public key")
	// ErrMalformedReply: the reply has the wrong size or type.
	ErrMalformedReply = errors.New("cookie: malformed cookie reply")
	// ErrUnexpectedReply: no handshake message was sent that this reply could
	// answer, or its answer has already been consumed.
	ErrUnexpectedReply = errors.New("cookie: no handshake message awaiting a cookie")
	// ErrInvalidReply: the reply did not decrypt, so it was not made by the
	// peer for the last message sent to it.
	ErrInvalidReply = errors.New("cookie: cookie reply failed authentication")
)

// deriveKey hashes label||pub into the 32-byte key used for MAC1 or for
// encrypting cookies to the holder of pub.
func deriveKey(label []byte, pub *[32]byte) [32]byte {
	var buf [8 + 32]byte
	copy(buf[:8], label)
	copy(buf[8:], pub[:])
	return blake2s.Sum256(buf[:])
}

// mac writes the keyed BLAKE2s-128 of data into out. The hash is created per
// call; it is cheap next to the handshake's Diffie-Hellman and keeps the
// callers free of shared mutable hash state.
func mac(out *[MACSize]byte, key []byte, data ...[]byte) {
	h, err := blake2s.New128(key)
	if err != nil {
		// Only possible for an empty or over-long key; every key here is a
		// 16- or 32-byte array, so this would be a programming error.
		// Filling out with zeros makes every comparison against it fail
		// (a genuine MAC is zero with negligible probability) rather than
		// panicking on a packet path.
		*out = [MACSize]byte{}
		return
	}
	for _, d := range data {
		h.Write(d)
	}
	h.Sum(out[:0])
}

// mac1Field and mac2Field locate the MACs in a handshake message whose length
// the caller has checked to be at least macsSize.
func mac1Field(msg []byte) []byte { return msg[len(msg)-macsSize : len(msg)-MACSize] }
func mac2Field(msg []byte) []byte { return msg[len(msg)-MACSize:] }

// equal compares two MACs in constant time, so a forger learns nothing from
// how quickly a guess was rejected.
func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
