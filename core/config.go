// SPDX-License-Identifier: MIT

package core

import (
	"net/netip"
	"time"
)

// Config is a change set for Tunnel.Apply, in the shape of a UAPI "set"
// request: nil pointer fields leave the current value alone. Apply validates
// the whole change set first and changes nothing if any part is wrong.
type Config struct {
	// PrivateKey sets the interface's key through an in-memory KeyStore; a
	// pointer to the zero key removes it. Mutually exclusive with KeyStore.
	PrivateKey *PrivateKey
	// KeyStore installs a key store (e.g. a vault plugin) in charge of the
	// static key.
	KeyStore KeyStore
	// ListenPort changes the UDP port (0 picks a free one).
	ListenPort *uint16
	// FwMark sets the firewall mark on outgoing packets (0 clears it).
	FwMark *uint32
	// ReplacePeers removes every peer not named in Peers before applying them.
	ReplacePeers bool
	// Peers are applied in order.
	Peers []PeerConfig
}

// PeerConfig changes one peer, identified by its public key.
type PeerConfig struct {
	// PublicKey identifies the peer.
	PublicKey PublicKey
	// Remove deletes the peer; other fields are ignored.
	Remove bool
	// UpdateOnly makes the change apply only if the peer exists already.
	UpdateOnly bool
	// PresharedKey sets the PSK; a pointer to the zero key removes it.
	PresharedKey *PresharedKey
	// Endpoint sets the remote address.
	Endpoint *netip.AddrPort
	// PersistentKeepalive sets the keepalive interval in seconds (0 = off).
	PersistentKeepalive *uint16
	// ReplaceAllowedIPs clears the peer's allowed IPs before AllowedIPs are
	// applied.
	ReplaceAllowedIPs bool
	// AllowedIPs are applied in order: add a prefix, or remove one when
	// Remove is set (UAPI "allowed_ip=-PREFIX").
	AllowedIPs []AllowedIPChange
	// ProtocolVersion, when non-zero, must be 1.
	ProtocolVersion int
}

// AllowedIPChange adds or removes one prefix of a peer's allowed IPs.
type AllowedIPChange struct {
	Prefix netip.Prefix
	Remove bool
}

// Snapshot is a consistent read-out of the interface and its peers.
type Snapshot struct {
	// PublicKey is the interface's public key; zero if none is set.
	PublicKey PublicKey
	// PrivateKey is set only when the key store may reveal it (in-memory).
	PrivateKey *PrivateKey
	// ListenPort is the bound UDP port (0 when not bound).
	ListenPort uint16
	// FwMark is the firewall mark (0 = none).
	FwMark uint32
	// Peers in the order they were added.
	Peers []PeerSnapshot
}

// PeerSnapshot is one peer's configuration and counters.
type PeerSnapshot struct {
	PublicKey           PublicKey
	PresharedKey        PresharedKey
	Endpoint            netip.AddrPort // zero if unknown
	PersistentKeepalive uint16         // seconds, 0 = off
	LastHandshake       time.Time      // zero if never
	RxBytes, TxBytes    uint64
	AllowedIPs          []netip.Prefix
	ProtocolVersion     int
	// State is where the peer's session stands (for metrics and logs).
	State PeerState
}

// PeerState summarises a peer's session.
type PeerState int

// The peer states.
const (
	// PeerIdle: no usable session and no handshake under way.
	PeerIdle PeerState = iota
	// PeerHandshaking: an initiation is out and unanswered.
	PeerHandshaking
	// PeerEstablished: a current keypair that may still be used.
	PeerEstablished
)

// String returns the state's metric label.
func (s PeerState) String() string {
	switch s {
	case PeerHandshaking:
		return "handshaking"
	case PeerEstablished:
		return "established"
	}
	return "idle"
}
