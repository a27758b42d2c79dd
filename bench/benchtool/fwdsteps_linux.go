// SPDX-License-Identifier: MIT

package main

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"crypto/cipher"

	"golang.org/x/crypto/chacha20poly1305"
)

// fwdSteps makes the forwarder do, per packet, some of the work a
// WireGuard implementation does, to find which of it costs latency
// (bench/latency-floor.sh --fenv2 FWD_STEPS=...). FWD_STEPS is a comma
// list of:
//
//	crypto    pad to 16 bytes and seal with ChaCha20-Poly1305 (a fixed
//	          key, a 16-byte header with the counter), open on receive
//	timers    per packet sent, stop a 10 s timer and arm a 15 s one if
//	          not armed; per packet received, the reverse (the keepalive
//	          and new-handshake timers of a WireGuard peer)
//	readmore  after each packet read from the TUN device, read again
//	          without waiting until the device is empty
type fwdSteps struct {
	crypto, timers, readMore bool
	aead                     cipher.AEAD
	ctr                      uint64
	mu                       sync.Mutex
	keepalive, newHS         *time.Timer
	khs, kka                 bool
}

func newFwdSteps(v string) *fwdSteps {
	x := &fwdSteps{}
	for _, s := range strings.Split(v, ",") {
		switch s {
		case "crypto":
			x.crypto = true
		case "timers":
			x.timers = true
		case "readmore":
			x.readMore = true
		}
	}
	x.aead, _ = chacha20poly1305.New(make([]byte, 32))
	x.keepalive = time.AfterFunc(time.Hour, func() {})
	x.keepalive.Stop()
	x.newHS = time.AfterFunc(time.Hour, func() {})
	x.newHS.Stop()
	return x
}

func (x *fwdSteps) seal(out, p []byte) []byte {
	if !x.crypto {
		return p
	}
	var nonce [12]byte
	x.ctr++
	binary.LittleEndian.PutUint64(nonce[4:], x.ctr)
	padded := (len(p) + 15) &^ 15
	copy(out[16:], p)
	clear(out[16+len(p) : 16+padded])
	binary.LittleEndian.PutUint64(out[8:], x.ctr)
	return x.aead.Seal(out[:16], nonce[:], out[16:16+padded], nil)
}

func (x *fwdSteps) open(b []byte) ([]byte, bool) {
	if !x.crypto {
		return b, true
	}
	if len(b) < 32 {
		return nil, false
	}
	var nonce [12]byte
	copy(nonce[4:], b[8:16])
	p, err := x.aead.Open(b[16:16], nonce[:], b[16:], nil)
	if err != nil || len(p) < 4 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(p[2:4]))
	if n > len(p) {
		return nil, false
	}
	return p[:n], true
}

// sent and received touch timers as a WireGuard peer does per packet.
func (x *fwdSteps) sent() {
	if !x.timers {
		return
	}
	x.mu.Lock()
	x.keepalive.Stop()
	x.kka = false
	if !x.khs {
		x.newHS.Reset(15*time.Second + time.Duration(time.Now().UnixNano()%300)*time.Millisecond)
		x.khs = true
	}
	x.mu.Unlock()
}

func (x *fwdSteps) received() {
	if !x.timers {
		return
	}
	x.mu.Lock()
	x.newHS.Stop()
	x.khs = false
	if !x.kka {
		x.keepalive.Reset(10 * time.Second)
		x.kka = true
	}
	x.mu.Unlock()
}
