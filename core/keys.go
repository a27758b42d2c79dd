// SPDX-License-Identifier: MIT

package core

import "github.com/wgplex/wgplex/core/noise"

// Key types are defined in core/noise (the handshake needs them without
// importing the engine) and re-exported here so that users of core need
// only one import.
type (
	// PrivateKey is a Curve25519 private key; see noise.PrivateKey.
	PrivateKey = noise.PrivateKey
	// PublicKey is a Curve25519 public key; see noise.PublicKey.
	PublicKey = noise.PublicKey
	// PresharedKey is the optional symmetric key; see noise.PresharedKey.
	PresharedKey = noise.PresharedKey
)

// MemoryKeyStore is the default KeyStore: the private key held in this
// process's memory, which is what UAPI private_key= sets.
type MemoryKeyStore struct {
	priv PrivateKey
	pub  PublicKey
}

// NewMemoryKeyStore returns a key store for priv (clamped on the way in).
func NewMemoryKeyStore(priv PrivateKey) *MemoryKeyStore {
	priv = priv.Clamped()
	return &MemoryKeyStore{priv: priv, pub: priv.PublicKey()}
}

// PublicKey returns the public half.
func (m *MemoryKeyStore) PublicKey() PublicKey { return m.pub }

// DH computes X25519 with the held private key.
func (m *MemoryKeyStore) DH(peer PublicKey) ([32]byte, error) { return m.priv.SharedSecret(peer) }

// PrivateKey returns the held key. Only the in-memory store can answer this;
// the UAPI "get" uses it to report private_key= as wg(8) expects.
func (m *MemoryKeyStore) PrivateKey() PrivateKey { return m.priv }

// PrivateKeyHolder is implemented by key stores that may reveal their private
// key (the in-memory one). A vault does not implement it.
type PrivateKeyHolder interface {
	PrivateKey() PrivateKey
}
