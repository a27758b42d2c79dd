// SPDX-License-Identifier: MIT

package noise

import "encoding/binary"

// Parsing helpers for the engine's receive path. They only read fixed
// offsets and never allocate, so they can run on every datagram before any
// cryptography. The accessors assume the caller has accepted the datagram
// with MessageType first; on a buffer too short for the field they return 0
// instead of panicking, because a packet from the network can reach them.

// MessageType returns the type of the datagram b and whether b is a
// well-formed message of that type: the three reserved bytes are zero (the
// type is read as one little-endian uint32), the type is known, and the
// length is exactly right for a handshake or cookie message, or at least
// DataMinSize for transport data.
func MessageType(b []byte) (uint32, bool) {
	if len(b) < 4 {
		return 0, false
	}
	t := binary.LittleEndian.Uint32(b[offType:])
	switch t {
	case MessageTypeInitiation:
		return t, len(b) == InitiationSize
	case MessageTypeResponse:
		return t, len(b) == ResponseSize
	case MessageTypeCookieReply:
		return t, len(b) == CookieReplySize
	case MessageTypeData:
		return t, len(b) >= DataMinSize
	}
	return t, false
}

// le32 reads a little-endian uint32 at off, or 0 if b is too short.
func le32(b []byte, off int) uint32 {
	if len(b) < off+4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b[off:])
}

// InitiationSenderIndex returns the initiator's index from an initiation,
// which a cookie reply to that initiation must name.
func InitiationSenderIndex(b []byte) uint32 { return le32(b, offInitSender) }

// ResponseSenderIndex returns the responder's index from a response.
func ResponseSenderIndex(b []byte) uint32 { return le32(b, offRespSender) }

// ResponseReceiverIndex returns the index the initiator chose, by which the
// engine finds the pending handshake a response belongs to.
func ResponseReceiverIndex(b []byte) uint32 { return le32(b, offRespReceiver) }

// CookieReplyReceiverIndex returns the index of the handshake message that
// provoked a cookie reply, so the engine can find the peer it concerns.
func CookieReplyReceiverIndex(b []byte) uint32 { return le32(b, offCookieReceiver) }

// DataReceiverIndex returns the receiver index of a data message, which
// selects the session key that decrypts it.
func DataReceiverIndex(b []byte) uint32 { return le32(b, offDataReceiver) }

// DataCounter returns the 64-bit little-endian nonce counter of a data
// message, or 0 if b is too short. It is unauthenticated until the payload
// decrypts, so the replay filter must be updated only after decryption.
func DataCounter(b []byte) uint64 {
	if len(b) < DataHeaderSize {
		return 0
	}
	return binary.LittleEndian.Uint64(b[offDataCounter:])
}

// PutDataHeader writes the 16-byte data message header (type 4, receiver
// index, counter) into b[:DataHeaderSize]. The send path owns b and always
// reserves this headroom; if b is nevertheless too short it is left
// untouched rather than panicking, and the peer will drop the datagram.
func PutDataHeader(b []byte, receiver uint32, counter uint64) {
	if len(b) < DataHeaderSize {
		return
	}
	binary.LittleEndian.PutUint32(b[offType:], MessageTypeData)
	binary.LittleEndian.PutUint32(b[offDataReceiver:], receiver)
	binary.LittleEndian.PutUint64(b[offDataCounter:], counter)
}

// DataNonce returns the 12-byte ChaCha20-Poly1305 nonce for a transport
// counter: 4 zero bytes then the counter little endian (§5.4.6).
func DataNonce(counter uint64) [12]byte {
	var n [12]byte
	binary.LittleEndian.PutUint64(n[4:], counter)
	return n
}
