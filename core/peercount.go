// SPDX-License-Identifier: MIT

package core

// PeerCount returns the number of configured peers. With HasPeer it lets a
// configuration reader (the UAPI) apply MaxPeers while it reads a request
// rather than after, so that an oversized request is refused before it is
// all in memory.
func (t *Tunnel) PeerCount() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.peers)
}

// HasPeer reports whether a peer with this public key is configured.
func (t *Tunnel) HasPeer(pub PublicKey) bool { return t.lookupPeer(pub) != nil }
