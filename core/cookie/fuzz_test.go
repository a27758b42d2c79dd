// SPDX-License-Identifier: MIT

package cookie

import (
	"bytes"
	"testing"
)

// fuzzKey is the local key of the checker and the peer key of the generator
// in the fuzz targets; the seed corpus under testdata/fuzz was made with it.
var fuzzKey = key(1)

func FuzzCheck(f *testing.F) {
	c := NewChecker()
	c.SetLocalPublicKey(fuzzKey)
	g := NewGenerator(fuzzKey)
	ver := c.NewVerifier()
	f.Fuzz(func(t *testing.T, msg, src []byte, checkMAC2 bool) {
		v := c.Check(msg, src, checkMAC2, t0)
		// The Verifier, reused across inputs, must agree with Check.
		var ck *[MACSize]byte
		if checkMAC2 {
			cookie := c.Cookie(src, t0)
			ck = &cookie
		}
		if got := ver.Check(msg, ck); got != v {
			t.Fatalf("Verifier: %v, Check: %v", got, v)
		}
		if v != VerdictInvalid && len(msg) < macsSize {
			t.Fatalf("%d-byte message judged %v", len(msg), v)
		}
		if v == VerdictMAC1AndMAC2Valid && !checkMAC2 {
			t.Fatal("MAC2 judged valid although not asked for")
		}
		// Whatever the body, once the generator has added MACs the checker
		// must accept MAC1.
		signed := bytes.Clone(msg)
		g.AddMACs(signed, t0)
		want := VerdictMAC1Valid
		if len(signed) < macsSize {
			want = VerdictInvalid
		}
		if v := c.Check(signed, src, false, t0); v != want {
			t.Fatalf("after AddMACs: verdict %v, want %v", v, want)
		}
		out := make([]byte, ReplySize)
		err := c.CreateReply(out, msg, 1, src, t0)
		if (err == nil) != (len(msg) >= macsSize) {
			t.Fatalf("CreateReply on %d bytes: %v", len(msg), err)
		}
	})
}

func FuzzConsumeReply(f *testing.F) {
	f.Fuzz(func(t *testing.T, reply []byte) {
		// A fresh generator per input, so that the one message it awaits a
		// reply to is always the same one the seed replies were made for.
		g := NewGenerator(fuzzKey)
		g.AddMACs(message(initiationSize), t0)
		in := bytes.Clone(reply)
		err := g.ConsumeReply(reply, t0)
		if !bytes.Equal(in, reply) {
			t.Fatal("ConsumeReply modified its input")
		}
		msg := message(initiationSize)
		g.AddMACs(msg, t0)
		hasMAC2 := !bytes.Equal(mac2Field(msg), make([]byte, MACSize))
		if hasMAC2 != (err == nil) {
			t.Fatalf("ConsumeReply error %v but MAC2 set = %v", err, hasMAC2)
		}
	})
}
