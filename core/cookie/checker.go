// SPDX-License-Identifier: MIT

package cookie

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"hash"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
)

// Verdict is the outcome of checking the MACs of an incoming handshake
// message.
type Verdict int

const (
	// VerdictInvalid: MAC1 is wrong (or the message is too short, or no local
	// key is set). Drop the message without answering.
	VerdictInvalid Verdict = iota
	// VerdictMAC1Valid: MAC1 is right; MAC2 was not checked, or is absent or
	// wrong. Unloaded, process the message; under load, answer with a cookie
	// reply instead.
	VerdictMAC1Valid
	// VerdictMAC1AndMAC2Valid: both MACs are right, so the sender has proved
	// it receives at its source address. Process the message even under
	// load (subject to rate limiting).
	VerdictMAC1AndMAC2Valid
)

// String returns a short name for logs.
func (v Verdict) String() string {
	switch v {
	case VerdictInvalid:
		return "invalid"
	case VerdictMAC1Valid:
		return "mac1-valid"
	case VerdictMAC1AndMAC2Valid:
		return "mac1-mac2-valid"
	}
	return "unknown"
}

// Checker is the device-side half: it checks MACs on incoming handshake
// messages and creates cookie replies. It is safe for concurrent use; the
// receive path calls it from many goroutines, so checks share a read lock and
// only key changes and secret rotation take the write lock.
type Checker struct {
	mu     sync.RWMutex
	hasKey bool
	// mac1Key checks MAC1; cookieAEAD encrypts cookies in replies. Both are
	// derived from the local public key.
	mac1Key    [32]byte
	cookieAEAD cipher.AEAD
	// secret keys the cookie of a source address. It is replaced once it is
	// older than SecretMaxAge, which invalidates every cookie handed out.
	secret     [32]byte
	secretTime time.Time
	hasSecret  bool
}

// NewChecker returns a Checker without a local key; until SetLocalPublicKey
// is called every message is invalid.
func NewChecker() *Checker {
	return &Checker{}
}

// SetLocalPublicKey sets the interface's static public key and rederives the
// keys that depend on it. The all-zero key means "no key": every Check then
// returns VerdictInvalid and CreateReply fails, since no honest sender could
// have computed a MAC to it.
func (c *Checker) SetLocalPublicKey(pub [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pub == ([32]byte{}) {
		c.hasKey = false
		c.mac1Key = [32]byte{}
		c.cookieAEAD = nil
		return
	}
	c.mac1Key = deriveKey(labelMAC1, &pub)
	cookieKey := deriveKey(labelCookie, &pub)
	aead, err := chacha20poly1305.NewX(cookieKey[:])
	if err != nil {
		// NewX fails only on a key of the wrong length, which a [32]byte
		// cannot be; stay keyless rather than half-configured.
		c.hasKey = false
		c.cookieAEAD = nil
		return
	}
	c.cookieAEAD = aead
	c.hasKey = true
}

// Check verifies the MACs of the handshake message msg (an initiation or a
// response, MACs included) received from src. MAC1 is always checked. MAC2 is
// checked only when checkMAC2 is set, which the caller does when under load:
// unloaded, the cookie machinery is not needed and the hash is skipped.
//
// src must identify the sender's outer address the same way it is passed to
// CreateReply (for example the IP address bytes followed by the port), since
// the cookie is bound to those bytes.
func (c *Checker) Check(msg []byte, src []byte, checkMAC2 bool, now time.Time) Verdict {
	if !checkMAC2 {
		return c.CheckWithCookie(msg, nil)
	}
	if len(msg) < macsSize {
		return VerdictInvalid
	}
	cookie := c.cookie(src, now)
	return c.CheckWithCookie(msg, &cookie)
}

// Cookie returns the cookie that src (encoded as for Check) must use for
// MAC2 under the current secret, rotating the secret first if it expired.
// A receiver that checks and answers many messages from one source in a
// burst computes it once and passes it to CheckWithCookie and
// CreateReplyWithCookie; it must not keep it beyond that burst, since the
// secret rotates.
func (c *Checker) Cookie(src []byte, now time.Time) [MACSize]byte {
	return c.cookie(src, now)
}

// CheckWithCookie is Check with the sender's cookie computed by the caller
// (see Cookie); a nil cookie checks MAC1 only.
func (c *Checker) CheckWithCookie(msg []byte, cookie *[MACSize]byte) Verdict {
	v := Verifier{c: c}
	return v.Check(msg, cookie)
}

// CreateReply writes into out[:ReplySize] the cookie reply answering msg, a
// handshake message received from src. receiverIndex is the sender index
// carried by msg, so that the sender can tell which of its handshakes the
// reply belongs to.
//
// The caller should only answer messages whose MAC1 it has checked: the reply
// is bound to msg's MAC1 as it arrived, and answering junk would turn the
// device into a reflector.
func (c *Checker) CreateReply(out []byte, msg []byte, receiverIndex uint32, src []byte, now time.Time) error {
	if len(out) < ReplySize {
		return ErrShortBuffer
	}
	if len(msg) < macsSize {
		return ErrShortMessage
	}
	cookie := c.cookie(src, now)
	return c.CreateReplyWithCookie(out, msg, receiverIndex, &cookie)
}

// CreateReplyWithCookie is CreateReply with the sender's cookie computed
// by the caller (see Cookie).
func (c *Checker) CreateReplyWithCookie(out []byte, msg []byte, receiverIndex uint32, cookie *[MACSize]byte) error {
	if len(out) < ReplySize {
		return ErrShortBuffer
	}
	if len(msg) < macsSize {
		return ErrShortMessage
	}
	c.mu.RLock()
	aead := c.cookieAEAD
	c.mu.RUnlock()
	if aead == nil {
		return ErrNoLocalKey
	}

	out = out[:ReplySize]
	binary.LittleEndian.PutUint32(out[0:4], MessageTypeReply)
	binary.LittleEndian.PutUint32(out[4:8], receiverIndex)
	nonce := out[replyNonceOffset:replySealedOffset]
	// crypto/rand.Read does not fail on supported platforms (the runtime
	// aborts instead of returning a short read).
	rand.Read(nonce)
	// The MAC1 of the message answered is the additional data, so the reply
	// is only accepted by the peer that sent that very message.
	aead.Seal(out[replySealedOffset:replySealedOffset], nonce, cookie[:], mac1Field(msg))
	return nil
}

// cookie returns the cookie for src under the current secret, first
// replacing the secret if it has expired. Rotation is lazy so that the
// package needs no timer; an idle device simply rotates on the next use.
func (c *Checker) cookie(src []byte, now time.Time) [MACSize]byte {
	c.mu.RLock()
	fresh := c.hasSecret && now.Sub(c.secretTime) <= SecretMaxAge
	secret := c.secret
	c.mu.RUnlock()
	if !fresh {
		c.mu.Lock()
		// Another goroutine may have rotated while the lock was released.
		if !c.hasSecret || now.Sub(c.secretTime) > SecretMaxAge {
			rand.Read(c.secret[:])
			c.secretTime = now
			c.hasSecret = true
		}
		secret = c.secret
		c.mu.Unlock()
	}
	var out [MACSize]byte
	mac(&out, secret[:], src)
	return out
}

// AppendSource appends to dst the bytes that identify a sender's outer
// address for Check and CreateReply: the IP address (4 bytes for IPv4,
// including IPv4-mapped IPv6, 16 for IPv6, zone dropped) followed by the port
// in big-endian order. Using one encoding everywhere matters because a cookie
// is only valid for the exact bytes it was made for.
func AppendSource(dst []byte, src netip.AddrPort) []byte {
	ip := src.Addr().Unmap()
	if ip.Is4() {
		a := ip.As4()
		dst = append(dst, a[:]...)
	} else {
		a := ip.As16()
		dst = append(dst, a[:]...)
	}
	return binary.BigEndian.AppendUint16(dst, src.Port())
}

// Verifier checks MACs as CheckWithCookie does (which uses a Verifier of
// its own for one message), for one goroutine, keeping its keyed hashes
// from one message to the next: a check allocates nothing, and
// the MAC2 hash is keyed again only when the cookie changes (a flood comes
// from few sources, and a receive loop computes a source's cookie once per
// batch). It is not safe for concurrent use: one per receive goroutine.
// The zero value is not usable; call Checker.NewVerifier.
type Verifier struct {
	c          *Checker
	mac1, mac2 keyedMAC
	sum        [MACSize]byte // the MAC computed, here so that it does not escape per call
}

// NewVerifier returns a Verifier that checks against c's current keys.
func (c *Checker) NewVerifier() *Verifier { return &Verifier{c: c} }

// Check is Checker.CheckWithCookie: MAC1 of msg, and MAC2 under cookie
// unless cookie is nil.
func (v *Verifier) Check(msg []byte, cookie *[MACSize]byte) Verdict {
	if len(msg) < macsSize {
		return VerdictInvalid
	}
	c := v.c
	c.mu.RLock()
	hasKey, key := c.hasKey, c.mac1Key
	c.mu.RUnlock()
	if !hasKey || !v.mac1.sum(&v.sum, key[:], msg[:len(msg)-macsSize]) || !equal(v.sum[:], mac1Field(msg)) {
		return VerdictInvalid
	}
	if cookie == nil || !v.mac2Valid(msg, cookie) {
		return VerdictMAC1Valid
	}
	return VerdictMAC1AndMAC2Valid
}

// MAC2Valid reports whether msg's MAC2 is right under cookie, without
// looking at MAC1. It is for a caller that drops a message without a
// valid MAC2 whatever its MAC1 (under load, a source over its cookie-reply
// rate): one hash instead of two. A true answer proves nothing alone; the
// message must still pass Check.
func (v *Verifier) MAC2Valid(msg []byte, cookie *[MACSize]byte) bool {
	return len(msg) >= macsSize && v.mac2Valid(msg, cookie)
}

// mac2Valid checks msg's MAC2 under cookie. An all-zero MAC2 is what an
// initiator without a cookie sends (§5.4.4), and what a flood of
// initiations carries: it is refused without hashing. A real MAC2 is all
// zeros with probability 2^-128, so the answer is the hash's. The field is
// on the wire, so looking at it first reveals nothing.
func (v *Verifier) mac2Valid(msg []byte, cookie *[MACSize]byte) bool {
	if [MACSize]byte(mac2Field(msg)) == [MACSize]byte{} {
		return false
	}
	return v.mac2.sum(&v.sum, cookie[:], msg[:len(msg)-MACSize]) && equal(v.sum[:], mac2Field(msg))
}

// keyedMAC is a BLAKE2s-128 hash kept keyed with the last key it was given
// (at most 32 bytes: the MAC1 key or a cookie), so that a run of messages
// under one key costs a Reset each instead of a new keyed hash.
type keyedMAC struct {
	h      hash.Hash
	key    [32]byte
	keyLen int
}

// sum writes into out the MAC of data under key, keying the hash anew only
// when key differs from the last one. It reports false only for a key
// BLAKE2s refuses (empty or over 32 bytes), which no caller passes.
func (k *keyedMAC) sum(out *[MACSize]byte, key, data []byte) bool {
	if k.h == nil || string(k.key[:k.keyLen]) != string(key) {
		h, err := blake2s.New128(key)
		if err != nil {
			return false
		}
		k.h, k.keyLen = h, copy(k.key[:], key)
	} else {
		k.h.Reset()
	}
	k.h.Write(data)
	k.h.Sum(out[:0])
	return true
}
