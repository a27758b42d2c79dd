// SPDX-License-Identifier: MIT

package cookie

import (
	"crypto/cipher"
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Generator is the per-peer half: it adds MACs to the handshake messages sent
// to one peer and absorbs the cookie replies that peer returns. It is safe for
// concurrent use.
type Generator struct {
	// mac1Key and aead are derived from the peer's public key at creation
	// and never change; a peer with a new key gets a new Generator.
	mac1Key [32]byte
	aead    cipher.AEAD

	mu sync.Mutex
	// lastMAC1 is the MAC1 of the latest message sent. A cookie reply must
	// carry it as additional data, which is what ties a reply to a message
	// we actually sent.
	lastMAC1    [MACSize]byte
	hasLastMAC1 bool
	// cookie is the latest cookie received and when it arrived.
	cookie     [MACSize]byte
	cookieTime time.Time
	hasCookie  bool
}

// NewGenerator returns a Generator for the peer whose static public key is
// remotePub.
func NewGenerator(remotePub [32]byte) *Generator {
	g := &Generator{mac1Key: deriveKey(labelMAC1, &remotePub)}
	cookieKey := deriveKey(labelCookie, &remotePub)
	// NewX only fails for a key that is not 32 bytes; a nil aead would make
	// every ConsumeReply fail, which is the safe outcome anyway.
	g.aead, _ = chacha20poly1305.NewX(cookieKey[:])
	return g
}

// AddMACs fills in the MAC1 and MAC2 fields at the end of msg, an outgoing
// initiation or response whose other fields are final. MAC2 is the keyed
// hash under the peer's cookie if one younger than SecretMaxAge-CookieLatency
// is held, and zero otherwise, as the protocol requires. The MAC1 is kept to
// authenticate the cookie reply the peer may send back.
//
// A msg shorter than the MAC trailer is left untouched.
func (g *Generator) AddMACs(msg []byte, now time.Time) {
	if len(msg) < macsSize {
		return
	}
	var m [MACSize]byte
	mac(&m, g.mac1Key[:], msg[:len(msg)-macsSize])
	copy(mac1Field(msg), m[:])

	g.mu.Lock()
	g.lastMAC1 = m
	g.hasLastMAC1 = true
	useCookie := g.hasCookie && now.Sub(g.cookieTime) < SecretMaxAge-CookieLatency
	cookie := g.cookie
	g.mu.Unlock()

	if !useCookie {
		clear(mac2Field(msg))
		return
	}
	mac(&m, cookie[:], msg[:len(msg)-MACSize])
	copy(mac2Field(msg), m[:])
}

// ConsumeReply decrypts reply, a cookie reply the caller has routed to this
// peer by its receiver index, and keeps the cookie for the next AddMACs.
// Only one reply is accepted per message sent: afterwards the MAC1 it
// answered is forgotten, so a replayed reply cannot refresh the cookie's age.
func (g *Generator) ConsumeReply(reply []byte, now time.Time) error {
	if len(reply) != ReplySize || binary.LittleEndian.Uint32(reply[0:4]) != MessageTypeReply {
		return ErrMalformedReply
	}
	if g.aead == nil {
		return ErrInvalidReply
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.hasLastMAC1 {
		return ErrUnexpectedReply
	}
	var cookie [MACSize]byte
	nonce := reply[replyNonceOffset:replySealedOffset]
	if _, err := g.aead.Open(cookie[:0], nonce, reply[replySealedOffset:], g.lastMAC1[:]); err != nil {
		return ErrInvalidReply
	}
	g.cookie = cookie
	g.cookieTime = now
	g.hasCookie = true
	g.hasLastMAC1 = false
	return nil
}
