// SPDX-License-Identifier: MIT

package noise

import (
	"bytes"
	"testing"
)

// The fuzz targets reuse the keys of the wireguard-go vectors so that the
// seed corpus (real messages) reaches the success paths, and mutations of
// it explore every early exit. The property checked is: no panic, and
// success only with consistent output.

func FuzzConsumeInitiation(f *testing.F) {
	v := loadVector(f, "wggo_initiator_nopsk")
	us := &countingIdentity{priv: PrivateKey(v["wgplex_static_private"])}
	wgPub := PrivateKey(v["wg_static_private"]).PublicKey()
	ss, _ := us.priv.SharedSecret(wgPub)
	lookup := func(r PublicKey) ([32]byte, error) {
		if !r.Equal(wgPub) {
			return [32]byte{}, errUnknown
		}
		return ss, nil
	}
	f.Add(v["initiation_from_wg"])
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := ConsumeInitiation(msg, us, lookup)
		if err != nil {
			return
		}
		if !s.RemoteStatic.Equal(wgPub) {
			t.Fatal("accepted an initiation from an unknown key")
		}
		var out [ResponseSize]byte
		if _, err := CreateResponse(out[:], s, 1, PresharedKey{}); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzConsumeResponse(f *testing.F) {
	v := loadVector(f, "wggo_responder_nopsk")
	us := &countingIdentity{priv: PrivateKey(v["wgplex_static_private"])}
	wgPub := PrivateKey(v["wg_static_private"]).PublicKey()
	ss, _ := us.priv.SharedSecret(wgPub)
	sent := v["initiation_to_wg"]
	old := randReader
	randReader = bytes.NewReader(v["wgplex_initiation_ephemeral_seed"])
	var init [InitiationSize]byte
	base, err := CreateInitiation(init[:], us.PublicKey(), wgPub, ss, InitiationSenderIndex(sent), Timestamp(v["wgplex_timestamp"]))
	randReader = old
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v["response_from_wg"])
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := *base // ConsumeResponse wipes the state it succeeds with
		keys, _, err := ConsumeResponse(msg, &s, us, PresharedKey{})
		if err != nil {
			return
		}
		if keys.Send == keys.Receive {
			t.Fatal("degenerate keys")
		}
	})
}

func FuzzMessageType(f *testing.F) {
	for _, n := range []int{0, 3, 4, DataMinSize, CookieReplySize, ResponseSize, InitiationSize} {
		f.Add(make([]byte, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, ok := MessageType(b)
		_ = ResponseReceiverIndex(b)
		_ = ResponseSenderIndex(b)
		_ = InitiationSenderIndex(b)
		_ = CookieReplyReceiverIndex(b)
		_ = DataReceiverIndex(b)
		_ = DataCounter(b)
		if !ok {
			return
		}
		want := map[uint32]int{MessageTypeInitiation: InitiationSize, MessageTypeResponse: ResponseSize, MessageTypeCookieReply: CookieReplySize}
		switch {
		case typ == MessageTypeData:
			if len(b) < DataMinSize {
				t.Fatal("short data accepted")
			}
		case want[typ] != len(b):
			t.Fatalf("type %d accepted with %d bytes", typ, len(b))
		}
		if b[1]|b[2]|b[3] != 0 {
			t.Fatal("reserved bytes not checked")
		}
	})
}
