// SPDX-License-Identifier: MIT

package core

import (
	"crypto/cipher"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgplex/wgplex/core/aead"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/core/replay"
)

// keypair is one session's transport keys (§5.4.5), with its own send
// counter and replay filter.
//
// A keypair is reference counted so that its keys can be wiped the moment
// nothing can use them any more, as the kernel frees its keypairs with
// their memory cleared: the peer's slot and the index table together hold
// one reference, dropped when the keypair is retired (replaced, expired
// with the rest at Reject-After-Time x 3, or the peer removed); every
// crypto job holds one while its packets are sealed or opened. The last
// release wipes the AEAD key state, so a memory disclosure later finds no
// session key of a past session, and no in-flight packet is ever sealed
// with a wiped key.
type keypair struct {
	send        cipher.AEAD
	recv        cipher.AEAD
	refs        atomic.Int32
	wiped       atomic.Bool   // set once release has wiped the keys
	sendCounter atomic.Uint64 // next counter to use
	replay      replay.Filter // guarded by the owning peer's rxMu
	created     time.Time
	initiator   bool // whether we initiated the handshake that made it
	localIndex  uint32
	remoteIndex uint32
	peer        *Peer
}

// The transport keys use core/aead: x/crypto's ChaCha20-Poly1305, or
// wgplex's own AVX-512 one with WGPLEX_AEAD=avx512 on CPUs with AVX-512
// IFMA.
//
// It wipes *keys, the caller's copy, whatever the outcome: from here on
// the keys live only in the AEADs.
func newKeypair(keys *noise.SessionKeys, initiator bool, local, remote uint32, now time.Time, p *Peer) (*keypair, error) {
	defer keys.Zero()
	s, err := aead.New(keys.Send[:])
	if err != nil {
		return nil, err
	}
	r, err := aead.New(keys.Receive[:])
	if err != nil {
		aead.Wipe(s)
		return nil, err
	}
	kp := &keypair{send: s, recv: r, created: now, initiator: initiator, localIndex: local, remoteIndex: remote, peer: p}
	kp.refs.Store(1)
	return kp, nil
}

// acquire takes a reference for a user of the keys; it fails once the last
// reference is gone (the keys are wiped or about to be).
func (kp *keypair) acquire() bool {
	for {
		n := kp.refs.Load()
		if n <= 0 {
			return false
		}
		if kp.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one wipes the keys.
func (kp *keypair) release() {
	if kp.refs.Add(-1) == 0 {
		aead.Wipe(kp.send)
		aead.Wipe(kp.recv)
		kp.wiped.Store(true)
	}
}

// indexEntry is what a receiver index names: a peer's pending handshake or
// one of its keypairs.
type indexEntry struct {
	peer    *Peer
	keypair *keypair // nil for a handshake in progress
}

// indexTable maps the 32-bit session indices we hand out (§5.4.2) to their
// owners. Indices are random so that they reveal nothing and cannot be
// guessed for an off-path injection.
type indexTable struct {
	mu sync.RWMutex
	m  map[uint32]indexEntry
}

func newIndexTable() *indexTable { return &indexTable{m: make(map[uint32]indexEntry)} }

// newIndex reserves a fresh index for e.
func (t *indexTable) newIndex(e indexEntry) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		i := rand.Uint32()
		if _, used := t.m[i]; !used {
			t.m[i] = e
			return i
		}
	}
}

// swap replaces the entry of an index we already own (a handshake that
// became a keypair keeps its index, as the peer already knows it).
func (t *indexTable) swap(i uint32, e indexEntry) {
	t.mu.Lock()
	t.m[i] = e
	t.mu.Unlock()
}

func (t *indexTable) delete(i uint32) {
	t.mu.Lock()
	delete(t.m, i)
	t.mu.Unlock()
}

func (t *indexTable) lookup(i uint32) (indexEntry, bool) {
	t.mu.RLock()
	e, ok := t.m[i]
	t.mu.RUnlock()
	return e, ok
}
