// SPDX-License-Identifier: MIT

package noise

import "errors"

// Errors returned by this package. They are sentinels so the engine can
// count and rate-limit drops by kind with errors.Is; none of them carries key
// material or message bytes, so all are safe to log.
var (
	// ErrMessageSize: a message or output buffer has the wrong length.
	ErrMessageSize = errors.New("noise: wrong message size")
	// ErrMessageType: the type field does not match the operation.
	ErrMessageType = errors.New("noise: wrong message type")
	// ErrDecrypt: an AEAD field did not authenticate. For a handshake this
	// means a wrong key, a wrong pre-shared key, or a forged/corrupt message.
	ErrDecrypt = errors.New("noise: decryption failed")
	// ErrIndexMismatch: a response names a receiver index other than the
	// one of the handshake it was matched with.
	ErrIndexMismatch = errors.New("noise: response receiver index does not match handshake")
	// ErrStateConsumed: a handshake state was nil or was already used to
	// derive session keys; each state yields keys exactly once.
	ErrStateConsumed = errors.New("noise: handshake state nil or already consumed")
	// ErrRandom: the system random source failed while creating an
	// ephemeral key.
	ErrRandom = errors.New("noise: random source failed")
	// ErrIdentity: the local Identity (key store) failed its DH operation
	// for a reason other than a low-order point; the wrapped error says why.
	ErrIdentity = errors.New("noise: local identity DH failed")
	// ErrPeerLookup: the lookup callback of ConsumeInitiation refused the
	// initiator's static key; the caller's error is wrapped too.
	ErrPeerLookup = errors.New("noise: initiator static key not accepted")
)
