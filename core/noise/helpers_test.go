// SPDX-License-Identifier: MIT

package noise

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"testing"
)

// countingIdentity is an in-memory Identity that counts DH calls, so tests
// can check that each handshake step hits the key store the expected
// number of times.
type countingIdentity struct {
	priv  PrivateKey
	calls int
}

func (c *countingIdentity) PublicKey() PublicKey { return c.priv.PublicKey() }

func (c *countingIdentity) DH(p PublicKey) ([KeySize]byte, error) {
	c.calls++
	return c.priv.SharedSecret(p)
}

// detReader is a deterministic byte stream (SHA-256 in counter mode over a
// label), standing in for crypto/rand so that handshakes are reproducible.
type detReader struct {
	label string
	ctr   uint64
	buf   []byte
}

func (d *detReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.buf) == 0 {
			var in []byte
			in = binary.LittleEndian.AppendUint64(append(in, d.label...), d.ctr)
			s := sha256.Sum256(in)
			d.ctr++
			d.buf = s[:]
		}
		c := copy(p[n:], d.buf)
		d.buf = d.buf[c:]
		n += c
	}
	return n, nil
}

// withRand swaps the ephemeral key source for the duration of a test.
// Tests that use it must not run in parallel.
func withRand(t testing.TB, r io.Reader) {
	t.Helper()
	old := randReader
	randReader = r
	t.Cleanup(func() { randReader = old })
}

func mustKey(t testing.TB, seed string) PrivateKey {
	t.Helper()
	k, err := keyFrom(&detReader{label: seed})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// keyFrom returns a clamped key read from r.
func keyFrom(r io.Reader) (PrivateKey, error) {
	var k PrivateKey
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return k, err
	}
	k.clamp()
	return k, nil
}

// pair is one handshake between two test identities and its outcome.
type pair struct {
	ini, resp         *countingIdentity
	initMsg           [InitiationSize]byte
	respMsg           [ResponseSize]byte
	rstate            *ResponderState
	istate            *InitiatorState
	iKeys, rKeys      SessionKeys
	iErr, rErr, lkErr error
}

// runHandshake runs a full handshake; pskI and pskR are what each side
// believes the pre-shared key is.
func runHandshake(t testing.TB, pskI, pskR PresharedKey) *pair {
	t.Helper()
	p := &pair{
		ini:  &countingIdentity{priv: mustKey(t, "initiator")},
		resp: &countingIdentity{priv: mustKey(t, "responder")},
	}
	ss, err := p.ini.priv.SharedSecret(p.resp.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	p.istate, err = CreateInitiation(p.initMsg[:], p.ini.PublicKey(), p.resp.PublicKey(), ss, 0x11223344, TimestampFromTime(testTime))
	if err != nil {
		t.Fatal(err)
	}
	p.rstate, p.lkErr = ConsumeInitiation(p.initMsg[:], p.resp, p.lookupFor(t))
	if p.lkErr != nil {
		return p
	}
	p.rKeys, p.rErr = CreateResponse(p.respMsg[:], p.rstate, 0x55667788, pskR)
	if p.rErr != nil {
		return p
	}
	var rid uint32
	p.iKeys, rid, p.iErr = ConsumeResponse(p.respMsg[:], p.istate, p.ini, pskI)
	if p.iErr == nil && rid != 0x55667788 {
		t.Fatalf("responder index = %#x", rid)
	}
	return p
}

// lookupFor returns a lookup that knows exactly the pair's initiator.
func (p *pair) lookupFor(t testing.TB) func(PublicKey) ([32]byte, error) {
	return func(remote PublicKey) ([32]byte, error) {
		if !remote.Equal(p.ini.PublicKey()) {
			return [32]byte{}, errUnknown
		}
		return p.resp.priv.SharedSecret(remote)
	}
}
