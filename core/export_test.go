// SPDX-License-Identifier: MIT

package core

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
