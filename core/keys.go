// SPDX-License-Identifier: MIT

package core

import (
	"sync"

	"github.com/wgplex/wgplex/core/noise"
)

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
	// mu lets Wipe clear the key while a handshake worker may still be
	// inside DH with it (one lock per handshake, not per packet).
	mu   sync.RWMutex
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

// DH computes X25519 with the held private key. After Wipe it fails.
func (m *MemoryKeyStore) DH(peer PublicKey) ([32]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.priv.IsZero() {
		return [32]byte{}, ErrKeyStore
	}
	return m.priv.SharedSecret(peer)
}

// PrivateKey returns the held key. Only the in-memory store can answer this;
// the UAPI "get" uses it to report private_key= as wg(8) expects.
func (m *MemoryKeyStore) PrivateKey() PrivateKey {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.priv
}

// Wipe overwrites the held private key. The tunnel calls it when the key is
// replaced and when it closes, so that an old identity does not linger in
// memory; the store is useless afterwards.
func (m *MemoryKeyStore) Wipe() {
	m.mu.Lock()
	clear(m.priv[:])
	m.mu.Unlock()
}

// PrivateKeyHolder is implemented by key stores that may reveal their private
// key (the in-memory one). A vault does not implement it.
type PrivateKeyHolder interface {
	PrivateKey() PrivateKey
}
