// SPDX-License-Identifier: MIT

package noise

import (
	"testing"

	"golang.org/x/crypto/curve25519"
)

// BenchmarkResponderHandshake measures the responder's cost of one
// handshake, the work an attacker can make a server do per valid mac1.
// It performs four X25519-sized operations (the "es" DH through the
// Identity, the ephemeral key generation, "ee" and "se"); compare with
// 4 x BenchmarkX25519.
func BenchmarkResponderHandshake(b *testing.B) {
	ini := &countingIdentity{priv: mustKey(b, "initiator")}
	resp := &countingIdentity{priv: mustKey(b, "responder")}
	ss, _ := ini.priv.SharedSecret(resp.PublicKey())
	var im [InitiationSize]byte
	if _, err := CreateInitiation(im[:], ini.PublicKey(), resp.PublicKey(), ss, 1, Timestamp{}); err != nil {
		b.Fatal(err)
	}
	lookup := func(PublicKey) ([32]byte, error) { return ss, nil }
	var rm [ResponseSize]byte
	b.ReportAllocs()
	for b.Loop() {
		s, err := ConsumeInitiation(im[:], resp, lookup)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := CreateResponse(rm[:], s, 2, PresharedKey{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkX25519 is one variable-base scalar multiplication, the unit of
// cost for the handshake benchmarks.
func BenchmarkX25519(b *testing.B) {
	k := mustKey(b, "scalar")
	p := mustKey(b, "point").PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := curve25519.X25519(k[:], p[:]); err != nil {
			b.Fatal(err)
		}
	}
}
