// SPDX-License-Identifier: MIT

package noise

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The two halves of Noise_IKpsk2 as WireGuard runs it (§5.4.2, §5.4.3):
//
//	initiator                                   responder
//	CreateInitiation  -- e, es, s, ss, {t} -->  ConsumeInitiation
//	ConsumeResponse   <-- e, ee, se, psk, {} -- CreateResponse
//
// Each side performs exactly one DH with its static private key: the
// responder in ConsumeInitiation ("es"), the initiator in ConsumeResponse
// ("se"). The static-static DH ("ss") is the same value on both sides and is
// cached per peer by the caller, which is why it is passed in. All other DHs
// use ephemeral keys held here.

// randReader is the source of ephemeral private keys. Tests replace it to
// produce fixed vectors; nothing else may.
var randReader io.Reader = rand.Reader

// SessionKeys are the transport keys one side derives from a completed
// handshake (§5.4.5), already oriented: Send encrypts what this side sends,
// Receive decrypts what it receives.
type SessionKeys struct {
	Send, Receive [KeySize]byte
}

// Zero wipes both keys; call it when the session is retired.
func (k *SessionKeys) Zero() {
	clear(k.Send[:])
	clear(k.Receive[:])
}

// InitiatorState is what the initiator keeps between sending an initiation
// and receiving the response. It holds the ephemeral private key, so it is
// wiped as soon as ConsumeResponse succeeds; a failed ConsumeResponse
// leaves it intact so that a forged response cannot cancel the handshake.
type InitiatorState struct {
	hash         [hashSize]byte
	chainKey     [hashSize]byte
	ephemeral    PrivateKey
	remoteStatic PublicKey
	localIndex   uint32
	consumed     bool
}

// LocalIndex returns the sender index written into the initiation, which
// the response echoes as its receiver index.
func (s *InitiatorState) LocalIndex() uint32 { return s.localIndex }

// RemoteStatic returns the responder's static key this handshake targets.
func (s *InitiatorState) RemoteStatic() PublicKey { return s.remoteStatic }

// Zero wipes the state's secrets and marks it consumed. The engine calls it
// when it abandons a handshake (retry or timeout).
func (s *InitiatorState) Zero() {
	clear(s.hash[:])
	clear(s.chainKey[:])
	clear(s.ephemeral[:])
	s.consumed = true
}

// Wiped reports whether Zero has cleared the state's secrets (the
// ephemeral private key, chaining key and hash): for tests and assertions.
func (s *InitiatorState) Wiped() bool {
	return s.hash == [len(s.hash)]byte{} && s.chainKey == [len(s.chainKey)]byte{} && s.ephemeral.IsZero()
}

// ResponderState is what the responder learns from a valid initiation and
// needs to answer it. The exported fields are for the caller's checks: it
// must reject the initiation unless Timestamp is After the newest one seen
// from RemoteStatic (replay protection, §5.1) before calling CreateResponse.
type ResponderState struct {
	// RemoteStatic is the initiator's static public key, decrypted.
	RemoteStatic PublicKey
	// Timestamp is the initiator's decrypted TAI64N label.
	Timestamp Timestamp
	// SenderIndex is the initiator's index, echoed in the response.
	SenderIndex uint32

	hash            [hashSize]byte
	chainKey        [hashSize]byte
	remoteEphemeral PublicKey
	consumed        bool
}

// Zero wipes the state's secrets and marks it consumed; CreateResponse does
// this itself, the caller needs it only to drop an unanswered initiation.
func (s *ResponderState) Zero() {
	clear(s.hash[:])
	clear(s.chainKey[:])
	clear(s.remoteEphemeral[:])
	s.consumed = true
}

// newEphemeral draws a fresh ephemeral key pair from randReader.
func newEphemeral() (PrivateKey, PublicKey, error) {
	var k PrivateKey
	if _, err := io.ReadFull(randReader, k[:]); err != nil {
		return PrivateKey{}, PublicKey{}, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	k.clamp()
	return k, k.PublicKey(), nil
}

// identityDH runs the local static DH and normalises its failures: an
// all-zero result is refused even if the Identity did not check, because
// mixing a known value into the chaining key would void the "es"/"se" term.
func identityDH(local Identity, peer PublicKey) ([KeySize]byte, error) {
	shared, err := local.DH(peer)
	if err != nil {
		clear(shared[:])
		if errors.Is(err, ErrLowOrderPoint) {
			return shared, ErrLowOrderPoint
		}
		return shared, fmt.Errorf("%w: %w", ErrIdentity, err)
	}
	if isZero(shared[:]) {
		return shared, ErrLowOrderPoint
	}
	return shared, nil
}

// startHash returns the chaining key and hash both sides hold before the
// first message: the protocol constants mixed with the responder's static
// public key (§5.4.2).
func startHash(responderStatic PublicKey) (ck, h [hashSize]byte) {
	ck, h = initialChainKey, initialHash
	mixHash(&h, responderStatic[:])
	return ck, h
}

// CreateInitiation writes a handshake initiation to out[:InitiationSize]
// with mac1 and mac2 left zero for core/cookie to fill, and returns the
// state ConsumeResponse needs. staticStatic is DH(local static private,
// remotePub), which the caller caches per peer; no static-key DH happens
// here, so the key store is not touched.
func CreateInitiation(out []byte, localPub, remotePub PublicKey, staticStatic [32]byte, localIndex uint32, now Timestamp) (*InitiatorState, error) {
	if len(out) < InitiationSize {
		return nil, ErrMessageSize
	}
	if isZero(staticStatic[:]) {
		return nil, ErrLowOrderPoint
	}
	eph, ephPub, err := newEphemeral()
	defer clear(eph[:])
	if err != nil {
		return nil, err
	}
	s := &InitiatorState{ephemeral: eph, remoteStatic: remotePub, localIndex: localIndex}
	ck, h := startHash(remotePub)
	var key [hashSize]byte
	defer clear(key[:])

	// e
	kdf1(&ck, &ck, ephPub[:])
	mixHash(&h, ephPub[:])
	// es
	es, err := eph.SharedSecret(remotePub)
	defer clear(es[:])
	if err != nil {
		s.Zero()
		return nil, err
	}
	kdf2(&ck, &key, &ck, es[:])
	// s: our static key, encrypted so only the responder learns who we are.
	msg := out[:InitiationSize]
	sealTo(msg[offInitStatic:], &key, localPub[:], h[:])
	mixHash(&h, msg[offInitStatic:offInitTimestamp])
	// ss, then the timestamp under a key that proves we hold our static key.
	kdf2(&ck, &key, &ck, staticStatic[:])
	sealTo(msg[offInitTimestamp:], &key, now[:], h[:])
	mixHash(&h, msg[offInitTimestamp:InitiationMAC1Offset])

	binary.LittleEndian.PutUint32(msg[offType:], MessageTypeInitiation)
	binary.LittleEndian.PutUint32(msg[offInitSender:], localIndex)
	copy(msg[offInitEphemeral:], ephPub[:])
	clear(msg[InitiationMAC1Offset:])

	s.chainKey, s.hash = ck, h
	clear(ck[:])
	return s, nil
}

// ConsumeInitiation authenticates a handshake initiation addressed to local
// and returns the responder state. It calls local.DH exactly once (the "es"
// term) and then lookup with the decrypted initiator key to obtain the
// cached static-static DH; lookup's error (an unknown peer) is returned
// wrapped with ErrPeerLookup. mac1/mac2 are not checked here; core/cookie
// has done that before any DH is spent. The caller still has to check the
// timestamp against the peer's last one.
func ConsumeInitiation(msg []byte, local Identity, lookup func(remote PublicKey) (staticStatic [32]byte, err error)) (*ResponderState, error) {
	if len(msg) != InitiationSize {
		return nil, ErrMessageSize
	}
	if binary.LittleEndian.Uint32(msg[offType:]) != MessageTypeInitiation {
		return nil, ErrMessageType
	}
	ck, h := startHash(local.PublicKey())
	var key [hashSize]byte
	defer clear(key[:])
	defer clear(ck[:])

	var ephPub PublicKey
	copy(ephPub[:], msg[offInitEphemeral:offInitStatic])
	kdf1(&ck, &ck, ephPub[:])
	mixHash(&h, ephPub[:])

	es, err := identityDH(local, ephPub)
	defer clear(es[:])
	if err != nil {
		return nil, err
	}
	kdf2(&ck, &key, &ck, es[:])

	s := &ResponderState{SenderIndex: binary.LittleEndian.Uint32(msg[offInitSender:]), remoteEphemeral: ephPub}
	encStatic := msg[offInitStatic:offInitTimestamp]
	if err := openTo(s.RemoteStatic[:], &key, encStatic, h[:]); err != nil {
		return nil, err
	}
	mixHash(&h, encStatic)

	ss, err := lookup(s.RemoteStatic)
	defer clear(ss[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPeerLookup, err)
	}
	if isZero(ss[:]) {
		return nil, ErrLowOrderPoint
	}
	kdf2(&ck, &key, &ck, ss[:])
	encTimestamp := msg[offInitTimestamp:InitiationMAC1Offset]
	if err := openTo(s.Timestamp[:], &key, encTimestamp, h[:]); err != nil {
		return nil, err
	}
	mixHash(&h, encTimestamp)

	s.chainKey, s.hash = ck, h
	return s, nil
}

// finishResponse runs the part of the response both sides compute
// identically once they have ee and se (§5.4.3): mix them and the
// pre-shared key into the chaining key, and return the chaining key, the
// hash and the key that encrypts the empty payload.
func finishResponse(ck, h *[hashSize]byte, ephPub PublicKey, ee, se *[KeySize]byte, psk PresharedKey, key *[hashSize]byte) {
	kdf1(ck, ck, ephPub[:])
	mixHash(h, ephPub[:])
	kdf1(ck, ck, ee[:])
	kdf1(ck, ck, se[:])
	var tau [hashSize]byte
	kdf3(ck, &tau, key, ck, psk[:])
	mixHash(h, tau[:])
	clear(tau[:])
}

// CreateResponse writes a handshake response to s into out[:ResponseSize]
// (mac1/mac2 zero, for core/cookie) and returns the responder's session
// keys. It uses only a fresh ephemeral key, never the local static key.
// s is wiped on success and cannot be used twice.
func CreateResponse(out []byte, s *ResponderState, localIndex uint32, psk PresharedKey) (SessionKeys, error) {
	if s == nil || s.consumed {
		return SessionKeys{}, ErrStateConsumed
	}
	if len(out) < ResponseSize {
		return SessionKeys{}, ErrMessageSize
	}
	eph, ephPub, err := newEphemeral()
	defer clear(eph[:])
	if err != nil {
		return SessionKeys{}, err
	}
	ee, err := eph.SharedSecret(s.remoteEphemeral)
	defer clear(ee[:])
	if err != nil {
		return SessionKeys{}, err
	}
	se, err := eph.SharedSecret(s.RemoteStatic)
	defer clear(se[:])
	if err != nil {
		return SessionKeys{}, err
	}

	ck, h := s.chainKey, s.hash
	var key [hashSize]byte
	defer clear(key[:])
	defer clear(ck[:])
	finishResponse(&ck, &h, ephPub, &ee, &se, psk, &key)

	msg := out[:ResponseSize]
	binary.LittleEndian.PutUint32(msg[offType:], MessageTypeResponse)
	binary.LittleEndian.PutUint32(msg[offRespSender:], localIndex)
	binary.LittleEndian.PutUint32(msg[offRespReceiver:], s.SenderIndex)
	copy(msg[offRespEphemeral:], ephPub[:])
	sealTo(msg[offRespEmpty:], &key, nil, h[:])
	clear(msg[ResponseMAC1Offset:])

	// The initiator's first key is ours to receive with (§5.4.5).
	var keys SessionKeys
	kdf2(&keys.Receive, &keys.Send, &ck, nil)
	s.Zero()
	return keys, nil
}

// ConsumeResponse authenticates a handshake response against the pending
// initiation s and returns the initiator's session keys and the responder's
// index (the receiver index for the data we send). It calls local.DH exactly
// once (the "se" term). mac1/mac2 are the caller's. s is wiped only on
// success, so a forged response cannot abort the real handshake.
func ConsumeResponse(msg []byte, s *InitiatorState, local Identity, psk PresharedKey) (SessionKeys, uint32, error) {
	if s == nil || s.consumed {
		return SessionKeys{}, 0, ErrStateConsumed
	}
	if len(msg) != ResponseSize {
		return SessionKeys{}, 0, ErrMessageSize
	}
	if binary.LittleEndian.Uint32(msg[offType:]) != MessageTypeResponse {
		return SessionKeys{}, 0, ErrMessageType
	}
	if binary.LittleEndian.Uint32(msg[offRespReceiver:]) != s.localIndex {
		return SessionKeys{}, 0, ErrIndexMismatch
	}
	var ephPub PublicKey
	copy(ephPub[:], msg[offRespEphemeral:offRespEmpty])

	ee, err := s.ephemeral.SharedSecret(ephPub)
	defer clear(ee[:])
	if err != nil {
		return SessionKeys{}, 0, err
	}
	se, err := identityDH(local, ephPub)
	defer clear(se[:])
	if err != nil {
		return SessionKeys{}, 0, err
	}

	ck, h := s.chainKey, s.hash
	var key [hashSize]byte
	defer clear(key[:])
	defer clear(ck[:])
	finishResponse(&ck, &h, ephPub, &ee, &se, psk, &key)
	var empty [0]byte
	if err := openTo(empty[:], &key, msg[offRespEmpty:ResponseMAC1Offset], h[:]); err != nil {
		return SessionKeys{}, 0, err
	}

	var keys SessionKeys
	kdf2(&keys.Send, &keys.Receive, &ck, nil)
	s.Zero()
	return keys, binary.LittleEndian.Uint32(msg[offRespSender:]), nil
}
