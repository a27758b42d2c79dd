// SPDX-License-Identifier: MIT

package noise

// Protocol constants. Section numbers refer to the WireGuard whitepaper
// ("WireGuard: Next Generation Kernel Network Tunnel", J. A. Donenfeld);
// the same values are on wireguard.com/protocol.

// Message types, the first byte of every datagram followed by three reserved
// zero bytes (§5.4.2, §5.4.3, §5.4.7, §5.4.6). They are read as one
// little-endian uint32 so that a non-zero reserved byte makes the type unknown.
const (
	MessageTypeInitiation  = 1 // handshake initiation (§5.4.2)
	MessageTypeResponse    = 2 // handshake response (§5.4.3)
	MessageTypeCookieReply = 3 // cookie reply under load (§5.4.7)
	MessageTypeData        = 4 // transport data (§5.4.6)
)

// Fixed message sizes (§5.4.2, §5.4.3, §5.4.7). A handshake datagram of any
// other length is dropped: the layouts have no variable part.
const (
	// InitiationSize: type(4) sender(4) ephemeral(32) static(32+16)
	// timestamp(12+16) mac1(16) mac2(16).
	InitiationSize = 148
	// ResponseSize: type(4) sender(4) receiver(4) ephemeral(32) empty(0+16)
	// mac1(16) mac2(16).
	ResponseSize = 92
	// CookieReplySize: type(4) receiver(4) nonce(24) cookie(16+16).
	CookieReplySize = 64
)

// Transport data framing (§5.4.6).
const (
	// DataHeaderSize is type(4) receiver(4) counter(8); the encrypted
	// payload follows.
	DataHeaderSize = 16
	// TagSize is the Poly1305 authenticator appended by every AEAD
	// encryption (§5.4, "AEAD").
	TagSize = 16
	// DataMinSize is the smallest valid data message: a keepalive, whose
	// payload is empty and so is only the tag (§6.5).
	DataMinSize = DataHeaderSize + TagSize
)

// Offsets of the MAC fields (§5.4.4), exported for core/cookie, which fills
// and checks them. Each MAC is 16 bytes and covers everything before it.
const (
	InitiationMAC1Offset = 116
	InitiationMAC2Offset = 132
	ResponseMAC1Offset   = 60
	ResponseMAC2Offset   = 76
	// MACSize is the length of mac1 and mac2 (keyed BLAKE2s-128, §5.4.4).
	MACSize = 16
)

// Offsets inside a cookie reply (§5.4.7), for core/cookie.
const (
	CookieReplyNonceOffset  = 8
	CookieReplyCookieOffset = 32
	// CookieNonceSize is the XChaCha20-Poly1305 nonce length.
	CookieNonceSize = 24
)

// Field offsets used by this package when laying out handshake messages.
// Unexported: the engine has accessors for the few fields it needs.
const (
	offType = 0 // all messages

	offInitSender    = 4
	offInitEphemeral = 8
	offInitStatic    = 40                           // 32-byte key + tag
	offInitTimestamp = offInitStatic + 32 + TagSize // 88: 12-byte TAI64N + tag

	offRespSender    = 4
	offRespReceiver  = 8
	offRespEphemeral = 12
	offRespEmpty     = 44 // empty plaintext, tag only

	offCookieReceiver = 4

	offDataReceiver = 4
	offDataCounter  = 8
)

// Construction and Identifier strings that seed the handshake hash and
// chaining key (§5.4.1, "Protocol Name and Identifier"). Changing either
// makes the handshake incompatible with every other implementation.
const (
	construction = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
	identifier   = "WireGuard v1 zx2c4 Jason@zx2c4.com"
)

// timestampSize is the TAI64N label length (§5.4.2).
const timestampSize = 12
