// SPDX-License-Identifier: MIT

package noise

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

var (
	testTime   = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	errUnknown = errors.New("test: unknown peer")
)

func TestHandshakeRoundTrip(t *testing.T) {
	psk := PresharedKey{1, 2, 3}
	for _, tc := range []struct {
		name string
		psk  PresharedKey
	}{{"no psk", PresharedKey{}}, {"psk", psk}} {
		t.Run(tc.name, func(t *testing.T) {
			p := runHandshake(t, tc.psk, tc.psk)
			if p.lkErr != nil || p.rErr != nil || p.iErr != nil {
				t.Fatalf("handshake failed: %v / %v / %v", p.lkErr, p.rErr, p.iErr)
			}
			if p.iKeys.Send != p.rKeys.Receive || p.iKeys.Receive != p.rKeys.Send {
				t.Fatal("session keys do not match across sides")
			}
			if p.iKeys.Send == p.iKeys.Receive {
				t.Fatal("send and receive keys are equal")
			}
			if !p.rstate.RemoteStatic.Equal(p.ini.PublicKey()) {
				t.Fatal("responder recovered the wrong initiator key")
			}
			if p.rstate.Timestamp != TimestampFromTime(testTime) {
				t.Fatal("timestamp not recovered")
			}
			if p.rstate.SenderIndex != 0x11223344 || p.istate.LocalIndex() != 0x11223344 {
				t.Fatal("initiator index not carried")
			}
			// MACs are left to core/cookie.
			if !isZero(p.initMsg[InitiationMAC1Offset:]) || !isZero(p.respMsg[ResponseMAC1Offset:]) {
				t.Fatal("mac fields not zero")
			}
			// States are single use and wiped.
			if _, err := CreateResponse(make([]byte, ResponseSize), p.rstate, 1, tc.psk); !errors.Is(err, ErrStateConsumed) {
				t.Fatalf("responder state reused: %v", err)
			}
			if _, _, err := ConsumeResponse(p.respMsg[:], p.istate, p.ini, tc.psk); !errors.Is(err, ErrStateConsumed) {
				t.Fatalf("initiator state reused: %v", err)
			}
			if !isZero(p.istate.ephemeral[:]) || !isZero(p.istate.chainKey[:]) || !isZero(p.rstate.chainKey[:]) {
				t.Fatal("consumed state not wiped")
			}
		})
	}
}

func TestHandshakeDifferentKeysWithPSK(t *testing.T) {
	a := runHandshake(t, PresharedKey{}, PresharedKey{})
	b := runHandshake(t, PresharedKey{9}, PresharedKey{9})
	if a.iErr != nil || b.iErr != nil {
		t.Fatal(a.iErr, b.iErr)
	}
	if a.iKeys.Send == b.iKeys.Send {
		t.Fatal("psk did not change the session keys")
	}
}

func TestPSKMismatch(t *testing.T) {
	for _, tc := range []struct{ i, r PresharedKey }{
		{PresharedKey{1}, PresharedKey{2}},
		{PresharedKey{}, PresharedKey{2}},
		{PresharedKey{1}, PresharedKey{}},
	} {
		p := runHandshake(t, tc.i, tc.r)
		if p.lkErr != nil || p.rErr != nil {
			t.Fatal("the responder cannot detect a psk mismatch before its response", p.lkErr, p.rErr)
		}
		if !errors.Is(p.iErr, ErrDecrypt) {
			t.Fatalf("psk mismatch: got %v, want ErrDecrypt", p.iErr)
		}
	}
}

func TestUnknownPeerPassedThrough(t *testing.T) {
	p := runHandshake(t, PresharedKey{}, PresharedKey{})
	_, err := ConsumeInitiation(p.initMsg[:], p.resp, func(PublicKey) ([32]byte, error) { return [32]byte{}, errUnknown })
	if !errors.Is(err, errUnknown) || !errors.Is(err, ErrPeerLookup) {
		t.Fatalf("got %v", err)
	}
	// Initiation for another responder: the static key does not decrypt.
	other := &countingIdentity{priv: mustKey(t, "other")}
	if _, err := ConsumeInitiation(p.initMsg[:], other, p.lookupFor(t)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong responder: %v", err)
	}
}

// indexFields are bytes that the Noise transcript does not cover: the
// sender indices. In WireGuard only mac1 (core/cookie) protects them, so a
// change there must produce a different index, not an error.
var (
	initIndexBytes = [2]int{offInitSender, offInitSender + 4}
	respIndexBytes = [2]int{offRespSender, offRespSender + 4}
)

func TestInitiationCorruptionRejected(t *testing.T) {
	p := runHandshake(t, PresharedKey{}, PresharedKey{})
	for i := range InitiationMAC1Offset {
		msg := p.initMsg
		msg[i] ^= 1
		s, err := ConsumeInitiation(msg[:], p.resp, p.lookupFor(t))
		if i >= initIndexBytes[0] && i < initIndexBytes[1] {
			if err != nil || s.SenderIndex == p.rstate.SenderIndex {
				t.Fatalf("byte %d (sender index): err=%v", i, err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("initiation with byte %d flipped was accepted", i)
		}
	}
	if _, err := ConsumeInitiation(p.initMsg[:InitiationSize-1], p.resp, p.lookupFor(t)); !errors.Is(err, ErrMessageSize) {
		t.Fatal(err)
	}
}

func TestResponseCorruptionRejected(t *testing.T) {
	ini := &countingIdentity{priv: mustKey(t, "initiator")}
	resp := &countingIdentity{priv: mustKey(t, "responder")}
	ss, _ := ini.priv.SharedSecret(resp.PublicKey())
	var im [InitiationSize]byte
	var rm [ResponseSize]byte
	is, err := CreateInitiation(im[:], ini.PublicKey(), resp.PublicKey(), ss, 7, TimestampFromTime(testTime))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := ConsumeInitiation(im[:], resp, func(PublicKey) ([32]byte, error) { return ss, nil })
	if err != nil {
		t.Fatal(err)
	}
	psk := PresharedKey{7}
	rk, err := CreateResponse(rm[:], rs, 8, psk)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ResponseMAC1Offset {
		if i >= respIndexBytes[0] && i < respIndexBytes[1] {
			continue // checked below, after the state is consumed
		}
		msg := rm
		msg[i] ^= 1
		if _, _, err := ConsumeResponse(msg[:], is, ini, psk); err == nil {
			t.Fatalf("response with byte %d flipped was accepted", i)
		}
	}
	// Failed attempts must leave the state usable for the genuine response.
	msg := rm
	msg[respIndexBytes[0]] ^= 1
	ik, rid, err := ConsumeResponse(msg[:], is, ini, psk)
	if err != nil || rid == 8 || ik.Send != rk.Receive {
		t.Fatalf("after corrupt attempts: err=%v rid=%d", err, rid)
	}
}

func TestDHCallCounts(t *testing.T) {
	p := runHandshake(t, PresharedKey{}, PresharedKey{})
	if p.iErr != nil {
		t.Fatal(p.iErr)
	}
	// Initiator: none in CreateInitiation, one in ConsumeResponse.
	// Responder: one in ConsumeInitiation, none in CreateResponse.
	if p.ini.calls != 1 || p.resp.calls != 1 {
		t.Fatalf("DH calls: initiator %d, responder %d; want 1 and 1", p.ini.calls, p.resp.calls)
	}

	ini := &countingIdentity{priv: mustKey(t, "initiator")}
	resp := &countingIdentity{priv: mustKey(t, "responder")}
	ss, _ := ini.priv.SharedSecret(resp.PublicKey())
	var im [InitiationSize]byte
	var rm [ResponseSize]byte
	is, _ := CreateInitiation(im[:], ini.PublicKey(), resp.PublicKey(), ss, 1, Timestamp{})
	if ini.calls != 0 || resp.calls != 0 {
		t.Fatal("CreateInitiation used an Identity")
	}
	rs, _ := ConsumeInitiation(im[:], resp, func(PublicKey) ([32]byte, error) { return ss, nil })
	if resp.calls != 1 {
		t.Fatalf("ConsumeInitiation: %d DH calls", resp.calls)
	}
	if _, err := CreateResponse(rm[:], rs, 2, PresharedKey{}); err != nil || resp.calls != 1 {
		t.Fatalf("CreateResponse: %d DH calls (%v)", resp.calls, err)
	}
	if _, _, err := ConsumeResponse(rm[:], is, ini, PresharedKey{}); err != nil || ini.calls != 1 {
		t.Fatalf("ConsumeResponse: %d DH calls (%v)", ini.calls, err)
	}
}

func TestLowOrderKeysRefused(t *testing.T) {
	ini := &countingIdentity{priv: mustKey(t, "initiator")}
	var out [InitiationSize]byte
	// The all-zero point is of low order: every DH with it is zero.
	if _, err := CreateInitiation(out[:], ini.PublicKey(), PublicKey{}, [32]byte{1}, 1, Timestamp{}); !errors.Is(err, ErrLowOrderPoint) {
		t.Fatalf("low-order responder key: %v", err)
	}
	if _, err := CreateInitiation(out[:], ini.PublicKey(), ini.PublicKey(), [32]byte{}, 1, Timestamp{}); !errors.Is(err, ErrLowOrderPoint) {
		t.Fatalf("zero static-static: %v", err)
	}
	// An initiation whose ephemeral is a low-order point.
	p := runHandshake(t, PresharedKey{}, PresharedKey{})
	msg := p.initMsg
	clear(msg[offInitEphemeral:offInitStatic])
	if _, err := ConsumeInitiation(msg[:], p.resp, p.lookupFor(t)); !errors.Is(err, ErrLowOrderPoint) {
		t.Fatalf("low-order ephemeral: %v", err)
	}
}

func TestShortBuffersAndTypes(t *testing.T) {
	ini := &countingIdentity{priv: mustKey(t, "initiator")}
	if _, err := CreateInitiation(make([]byte, InitiationSize-1), ini.PublicKey(), ini.PublicKey(), [32]byte{1}, 1, Timestamp{}); !errors.Is(err, ErrMessageSize) {
		t.Fatal(err)
	}
	p := runHandshake(t, PresharedKey{}, PresharedKey{})
	msg := p.initMsg
	msg[0] = MessageTypeResponse
	if _, err := ConsumeInitiation(msg[:], p.resp, p.lookupFor(t)); !errors.Is(err, ErrMessageType) {
		t.Fatal(err)
	}
	if _, _, err := ConsumeResponse(p.respMsg[:], nil, p.ini, PresharedKey{}); !errors.Is(err, ErrStateConsumed) {
		t.Fatal(err)
	}
	if _, err := CreateResponse(make([]byte, ResponseSize), nil, 1, PresharedKey{}); !errors.Is(err, ErrStateConsumed) {
		t.Fatal(err)
	}
	rs, err := ConsumeInitiation(p.initMsg[:], p.resp, p.lookupFor(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateResponse(make([]byte, ResponseSize-1), rs, 1, PresharedKey{}); !errors.Is(err, ErrMessageSize) {
		t.Fatal(err)
	}
}

func TestDeterministicWithFixedRand(t *testing.T) {
	gen := func() ([]byte, []byte) {
		withRand(t, &detReader{label: "fixed"})
		p := runHandshake(t, PresharedKey{}, PresharedKey{})
		return p.initMsg[:], p.respMsg[:]
	}
	i1, r1 := gen()
	i2, r2 := gen()
	if !bytes.Equal(i1, i2) || !bytes.Equal(r1, r2) {
		t.Fatal("fixed random source did not give fixed messages")
	}
}

func TestSessionKeysZero(t *testing.T) {
	k := SessionKeys{Send: [32]byte{1}, Receive: [32]byte{2}}
	k.Zero()
	if k != (SessionKeys{}) {
		t.Fatal("not wiped")
	}
}
