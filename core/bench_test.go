// SPDX-License-Identifier: MIT

package core

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core/noise"
)

// benchKeypairs returns the two ends of one session.
func benchKeypairs(tb testing.TB) (send, recv *keypair) {
	var a, b [32]byte
	rand.Read(a[:])
	rand.Read(b[:])
	now := time.Now()
	s, err := newKeypair(&noise.SessionKeys{Send: a, Receive: b}, true, 1, 2, now, nil)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := newKeypair(&noise.SessionKeys{Send: b, Receive: a}, false, 2, 1, now, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return s, r
}

// BenchmarkEncryptDecryptBatch seals a batch of 1420-byte packets in place
// and opens them again, the crypto stage of both data paths. It must not
// allocate.
func BenchmarkEncryptDecryptBatch(b *testing.B) {
	const batch, size = 64, 1420
	send, recv := benchKeypairs(b)
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, bufferSize)
		rand.Read(bufs[i][MessageHeadroom : MessageHeadroom+size])
	}
	out := &job{kp: send, outbound: true, pkts: make([]packet, batch)}
	in := &job{kp: recv, pkts: make([]packet, batch)}
	var ctr uint64
	b.SetBytes(batch * size)
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range out.pkts {
			out.pkts[i] = packet{data: bufs[i][:MessageHeadroom+size], ctr: ctr}
			ctr++
		}
		encryptJob(out)
		for i := range in.pkts {
			in.pkts[i] = packet{data: out.pkts[i].data, ctr: noise.DataCounter(out.pkts[i].data)}
		}
		decryptJob(in)
		for i := range in.pkts {
			if !in.pkts[i].ok || in.pkts[i].plain != size {
				b.Fatal("round trip failed")
			}
		}
	}
}

func TestEncryptDecryptRoundTripAndTamper(t *testing.T) {
	send, recv := benchKeypairs(t)
	buf := make([]byte, bufferSize)
	copy(buf[MessageHeadroom:], "payload of sixteen")
	out := &job{kp: send, outbound: true, pkts: []packet{{data: buf[:MessageHeadroom+18], ctr: 7}}}
	encryptJob(out)
	msg := out.pkts[0].data
	if len(msg) != noise.DataHeaderSize+18+noise.TagSize {
		t.Fatalf("message length %d", len(msg))
	}
	if noise.DataReceiverIndex(msg) != 2 || noise.DataCounter(msg) != 7 {
		t.Fatal("header fields wrong")
	}
	for i := noise.DataHeaderSize; i < len(msg); i++ {
		c := append([]byte(nil), msg...)
		c[i] ^= 1
		in := &job{kp: recv, pkts: []packet{{data: c, ctr: 7}}}
		decryptJob(in)
		if in.pkts[0].ok {
			t.Fatalf("tampered byte %d accepted", i)
		}
	}
	in := &job{kp: recv, pkts: []packet{{data: msg, ctr: 7}}}
	decryptJob(in)
	if !in.pkts[0].ok || string(msg[MessageHeadroom:MessageHeadroom+18]) != "payload of sixteen" {
		t.Fatal("round trip failed")
	}
}
