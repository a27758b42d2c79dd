// SPDX-License-Identifier: MIT

package core

import (
	"github.com/wgplex/wgplex/core/aead"
	"github.com/wgplex/wgplex/core/noise"
)

// Test-only views of engine internals, for the external tests in package
// core_test (which need coretest, and coretest imports core).

// PeerStateForTest describes one peer's session state.
type PeerStateForTest struct {
	Staged                  int
	HasPrev, HasCur, HasNxt bool
	HandshakeInProgress     bool
	Attempts                int
}

// PeerStateForTest returns the session state of the peer with key pub.
func (t *Tunnel) PeerStateForTest(pub PublicKey) (PeerStateForTest, bool) {
	p := t.lookupPeer(pub)
	if p == nil {
		return PeerStateForTest{}, false
	}
	var s PeerStateForTest
	s.Staged = p.stagedCount()
	p.kpMu.RLock()
	s.HasPrev, s.HasCur, s.HasNxt = p.prev != nil, p.cur != nil, p.nxt != nil
	p.kpMu.RUnlock()
	p.hsMu.Lock()
	s.HandshakeInProgress = p.initiation != nil
	s.Attempts = p.attempts
	p.hsMu.Unlock()
	return s, true
}

// IndexCountForTest is the number of live session indices.
func (t *Tunnel) IndexCountForTest() int {
	t.index.mu.RLock()
	defer t.index.mu.RUnlock()
	return len(t.index.m)
}

// RxBufferCopiesForTest is how many received buffers were split between
// jobs by copying.
func (t *Tunnel) RxBufferCopiesForTest() uint64 { return t.rxBufferCopies.Load() }

// SendBufferSizeForTest is the size of the send buffers handed out now.
func (t *Tunnel) SendBufferSizeForTest() int { return t.txPool.currentSize() }

// PeerSecretsForTest is a handle on one peer's secrets, kept across a
// removal so that a test can check they were wiped.
type PeerSecretsForTest struct{ p *Peer }

// KeypairForTest is a handle on one session keypair.
type KeypairForTest struct{ kp *keypair }

// InitiationForTest is a handle on an unanswered handshake initiation.
type InitiationForTest struct {
	p  *Peer
	st *noise.InitiatorState
}

// PeerSecretsForTest returns the handle of the peer with key pub.
func (t *Tunnel) PeerSecretsForTest(pub PublicKey) (PeerSecretsForTest, bool) {
	p := t.lookupPeer(pub)
	return PeerSecretsForTest{p}, p != nil
}

// Keypairs returns the peer's keypairs now in their slots.
func (s PeerSecretsForTest) Keypairs() []KeypairForTest {
	s.p.kpMu.RLock()
	defer s.p.kpMu.RUnlock()
	var out []KeypairForTest
	for _, kp := range []*keypair{s.p.prev, s.p.cur, s.p.nxt} {
		if kp != nil {
			out = append(out, KeypairForTest{kp})
		}
	}
	return out
}

// Initiation returns the peer's unanswered initiation, if any.
func (s PeerSecretsForTest) Initiation() (InitiationForTest, bool) {
	s.p.hsMu.Lock()
	defer s.p.hsMu.Unlock()
	return InitiationForTest{s.p, s.p.initiation}, s.p.initiation != nil
}

// StaticStatic returns the cached static-static DH as it is in memory.
func (s PeerSecretsForTest) StaticStatic() [32]byte {
	s.p.hsMu.Lock()
	defer s.p.hsMu.Unlock()
	return s.p.ss
}

// PresharedKey returns the preshared key as it is in memory.
func (s PeerSecretsForTest) PresharedKey() PresharedKey { return s.p.presharedKey() }

// Wiped reports whether the keypair was released for good and both AEADs'
// key state is all zero in memory. The flag is read first: it is set after
// the wipe, so reading the bytes after it does not race with the wipe.
func (k KeypairForTest) Wiped() bool {
	return k.kp.wiped.Load() && aead.IsWiped(k.kp.send) && aead.IsWiped(k.kp.recv)
}

// Wiped reports whether the initiation's secrets are all zero.
func (i InitiationForTest) Wiped() bool {
	i.p.hsMu.Lock()
	defer i.p.hsMu.Unlock()
	return i.st.Wiped()
}

// KeyStoreForTest returns the interface's key store.
func (t *Tunnel) KeyStoreForTest() KeyStore { return t.currentKeyStore() }
