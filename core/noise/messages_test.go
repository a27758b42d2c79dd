// SPDX-License-Identifier: MIT

package noise

import "testing"

func TestMessageType(t *testing.T) {
	mk := func(typ byte, n int) []byte {
		b := make([]byte, n)
		if n > 0 {
			b[0] = typ
		}
		return b
	}
	cases := []struct {
		b    []byte
		want uint32
		ok   bool
	}{
		{mk(1, InitiationSize), 1, true},
		{mk(1, InitiationSize+1), 1, false},
		{mk(2, ResponseSize), 2, true},
		{mk(2, ResponseSize-1), 2, false},
		{mk(3, CookieReplySize), 3, true},
		{mk(3, CookieReplySize+1), 3, false},
		{mk(4, DataMinSize), 4, true},
		{mk(4, 1500), 4, true},
		{mk(4, DataMinSize-1), 4, false},
		{mk(5, 100), 5, false},
		{mk(0, 100), 0, false},
		{nil, 0, false},
		{[]byte{4, 0, 0}, 0, false},
	}
	for i, c := range cases {
		got, ok := MessageType(c.b)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("case %d: got %d,%v", i, got, ok)
		}
	}
	// Reserved bytes must be zero.
	for i := 1; i < 4; i++ {
		b := mk(1, InitiationSize)
		b[i] = 1
		if _, ok := MessageType(b); ok {
			t.Errorf("reserved byte %d accepted", i)
		}
	}
}

func TestDataHeader(t *testing.T) {
	b := make([]byte, DataMinSize)
	PutDataHeader(b, 0xa1b2c3d4, 0x0102030405060708)
	if typ, ok := MessageType(b); !ok || typ != MessageTypeData {
		t.Fatal("type")
	}
	if DataReceiverIndex(b) != 0xa1b2c3d4 || DataCounter(b) != 0x0102030405060708 {
		t.Fatal("fields")
	}
	if b[4] != 0xd4 || b[8] != 0x08 {
		t.Fatal("not little endian")
	}
	short := make([]byte, DataHeaderSize-1)
	PutDataHeader(short, 1, 1) // must not panic
	if !isZero(short) {
		t.Fatal("short buffer written")
	}
	n := DataNonce(0x0102030405060708)
	if n[0] != 0 || n[3] != 0 || n[4] != 8 || n[11] != 1 {
		t.Fatalf("nonce %x", n)
	}
}

func TestAccessorsShortInput(t *testing.T) {
	for n := range 20 {
		b := make([]byte, n)
		_ = ResponseReceiverIndex(b)
		_ = ResponseSenderIndex(b)
		_ = InitiationSenderIndex(b)
		_ = CookieReplyReceiverIndex(b)
		_ = DataReceiverIndex(b)
		_ = DataCounter(b)
	}
	r := make([]byte, ResponseSize)
	r[4], r[8] = 5, 9
	if ResponseSenderIndex(r) != 5 || ResponseReceiverIndex(r) != 9 {
		t.Fatal("response indices")
	}
	c := make([]byte, CookieReplySize)
	c[4] = 3
	if CookieReplyReceiverIndex(c) != 3 {
		t.Fatal("cookie receiver")
	}
}
