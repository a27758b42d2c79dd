// SPDX-License-Identifier: MIT

package core

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// Apply applies a change set. The whole set is validated before anything
// changes; if validation fails, or the new listen port cannot be bound,
// the configuration is left exactly as it was and the error says why
// (wrapping ErrInvalidConfig, ErrPortInUse, ErrKeyManaged, ...).
func (t *Tunnel) Apply(c Config) error {
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	if t.isClosed() {
		return ErrClosed
	}
	endpoints, err := t.validate(&c)
	if err != nil {
		return err
	}
	changed := false
	defer func() {
		if changed {
			t.gen.bump()
		}
	}()

	// The listen port is the one step that can fail after validation (the
	// port may be taken), so it goes first: on failure nothing else has
	// changed yet.
	t.mu.RLock()
	oldPort, oldMark := t.listenPort, t.fwmark
	t.mu.RUnlock()
	if c.ListenPort != nil && *c.ListenPort != oldPort {
		if t.isUp.Load() {
			t.closeBind()
			if err := t.openBind(*c.ListenPort, oldMark); err != nil {
				if rerr := t.openBind(oldPort, oldMark); rerr != nil {
					t.log.Error("Failed to restore the previous listen port", "err", rerr)
				}
				return err
			}
		}
		t.mu.Lock()
		t.listenPort = *c.ListenPort
		t.mu.Unlock()
		changed = true
	}
	if c.FwMark != nil && *c.FwMark != oldMark {
		t.mu.Lock()
		t.fwmark = *c.FwMark
		t.mu.Unlock()
		changed = true
		if t.isUp.Load() {
			t.bindMu.RLock()
			if t.bindOpen {
				if err := t.bind.SetMark(*c.FwMark); err != nil {
					t.log.Error("Failed to set fwmark", "err", err)
				}
			}
			t.bindMu.RUnlock()
		}
	}

	if c.PrivateKey != nil || c.KeyStore != nil {
		changed = t.setKeyStore(c) || changed
	}

	if c.ReplacePeers {
		// As in the kernel and the reference implementation, every peer
		// goes and the named ones come back fresh: a peer restated by
		// "wg setconf" must not keep a pre-shared key or endpoint that the
		// new file no longer has.
		for _, p := range t.peerList() {
			t.removePeer(p)
			changed = true
		}
	}
	for i := range c.Peers {
		changed = t.applyPeer(&c.Peers[i], endpoints[i]) || changed
	}
	return nil
}

// validate checks a change set without changing anything and parses the
// endpoints through the Bind.
func (t *Tunnel) validate(c *Config) ([]Endpoint, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...)
	}
	if c.PrivateKey != nil && c.KeyStore != nil {
		return nil, bad("both a private key and a key store given")
	}
	t.mu.RLock()
	managed := t.keyManaged
	count := len(t.peers)
	existing := make(map[PublicKey]bool)
	for i := range c.Peers {
		if _, ok := t.peers[c.Peers[i].PublicKey]; ok {
			existing[c.Peers[i].PublicKey] = true
		}
	}
	t.mu.RUnlock()
	if c.PrivateKey != nil && managed {
		return nil, ErrKeyManaged
	}
	if c.ReplacePeers {
		count = 0
		clear(existing)
	}
	eps := make([]Endpoint, len(c.Peers))
	added := make(map[PublicKey]bool)
	for i := range c.Peers {
		pc := &c.Peers[i]
		// The all-zero public key is a valid peer key, as in the kernel
		// and wg(8): it is a low-order point, so every handshake with it
		// stops at the all-zero Diffie-Hellman result (noise refuses it),
		// but the peer itself may be configured, listed and removed.
		if pc.ProtocolVersion != 0 && pc.ProtocolVersion != 1 {
			return nil, bad("peer %s: unsupported protocol version %d", pc.PublicKey.Short(), pc.ProtocolVersion)
		}
		if pc.Remove {
			continue
		}
		if pc.Endpoint != nil {
			if !pc.Endpoint.IsValid() || pc.Endpoint.Port() == 0 {
				return nil, bad("peer %s: invalid endpoint", pc.PublicKey.Short())
			}
			ep, err := t.bind.ParseEndpoint(pc.Endpoint.String())
			if err != nil {
				return nil, bad("peer %s: endpoint %s: %v", pc.PublicKey.Short(), pc.Endpoint, err)
			}
			eps[i] = ep
		}
		for _, a := range pc.AllowedIPs {
			if !a.Prefix.IsValid() {
				return nil, bad("peer %s: invalid allowed IP", pc.PublicKey.Short())
			}
		}
		if !existing[pc.PublicKey] && !added[pc.PublicKey] && !pc.UpdateOnly {
			added[pc.PublicKey] = true
			count++
		}
	}
	if count > MaxPeers {
		return nil, fmt.Errorf("%w: %d peers, the limit is %d", ErrTooManyPeers, count, MaxPeers)
	}
	return eps, nil
}

// wipeKeyStore clears the private key of an in-memory key store.
func wipeKeyStore(ks KeyStore) {
	if m, ok := ks.(*MemoryKeyStore); ok {
		m.Wipe()
	}
}

// setKeyStore installs a new static identity. Every peer's cached
// static-static DH becomes stale and its sessions are dropped, as they
// were made with the old identity. A peer whose public key equals the new
// interface key is removed: an interface cannot be its own peer. It
// reports whether the identity changed.
func (t *Tunnel) setKeyStore(c Config) bool {
	var ks KeyStore
	managed := false
	switch {
	case c.KeyStore != nil:
		ks, managed = c.KeyStore, true
	case !c.PrivateKey.IsZero():
		ks = NewMemoryKeyStore(*c.PrivateKey)
	}
	t.mu.Lock()
	old := t.keyStore
	if old != nil && ks != nil && old.PublicKey() == ks.PublicKey() && !managed && !t.keyManaged {
		// Same key again (wg syncconf does this): keep sessions.
		t.mu.Unlock()
		wipeKeyStore(ks)
		return false
	}
	oldManaged := t.keyManaged
	t.keyStore, t.keyManaged = ks, managed
	t.mu.Unlock()
	if !oldManaged {
		// The old in-memory key is ours to clear; a vault's is not.
		wipeKeyStore(old)
	}
	var pub PublicKey
	if ks != nil {
		pub = ks.PublicKey()
	}
	t.checker.SetLocalPublicKey(pub)
	for _, p := range t.peerList() {
		if ks != nil && p.pub == pub {
			t.removePeer(p)
			continue
		}
		p.hsMu.Lock()
		p.ssValid = false
		p.ss = [32]byte{}
		p.hsMu.Unlock()
		p.zeroKeys()
	}
	return true
}

// applyPeer applies one peer's change and reports whether it changed
// anything.
func (t *Tunnel) applyPeer(pc *PeerConfig, ep Endpoint) bool {
	t.mu.Lock()
	p := t.peers[pc.PublicKey]
	if pc.Remove {
		t.mu.Unlock()
		if p != nil {
			t.removePeer(p)
		}
		return p != nil
	}
	changed := false
	if p == nil {
		if pc.UpdateOnly {
			t.mu.Unlock()
			return false
		}
		if t.keyStore != nil && t.keyStore.PublicKey() == pc.PublicKey {
			t.mu.Unlock()
			return false // an interface cannot be its own peer
		}
		changed = true
		t.peerSeq++
		p = newPeer(t, pc.PublicKey, t.peerSeq)
		if !t.isUp.Load() {
			p.timers.stopped = true
		}
		t.peers[pc.PublicKey] = p
	}
	t.mu.Unlock()

	keepaliveChanged := false
	p.mu.Lock()
	if pc.PresharedKey != nil {
		changed = changed || !p.psk.Equal(*pc.PresharedKey)
		p.psk = *pc.PresharedKey
	}
	if ep != nil {
		changed = changed || p.endpoint == nil || p.endpoint.DstAddrPort() != ep.DstAddrPort()
		p.endpoint = ep
	}
	if pc.PersistentKeepalive != nil {
		keepaliveChanged = p.keepalive != *pc.PersistentKeepalive
		p.keepalive = *pc.PersistentKeepalive
	}
	changed = changed || keepaliveChanged
	p.mu.Unlock()

	if pc.ReplaceAllowedIPs || len(pc.AllowedIPs) > 0 {
		t.routeMu.Lock()
		var before []netip.Prefix
		if pc.ReplaceAllowedIPs {
			before = t.routes.Prefixes(p)
			t.routes.RemoveValue(p)
		}
		for _, a := range pc.AllowedIPs {
			if a.Remove {
				// Only this peer's own prefix may be removed through it.
				if owner, ok := t.routes.Get(a.Prefix); ok && owner == p {
					t.routes.Remove(a.Prefix)
					changed = true
				}
			} else {
				if owner, ok := t.routes.Get(a.Prefix); !pc.ReplaceAllowedIPs && (!ok || owner != p) {
					changed = true
				}
				t.routes.Insert(a.Prefix, p)
			}
		}
		if pc.ReplaceAllowedIPs && !changed {
			changed = !slices.Equal(before, t.routes.Prefixes(p))
		}
		t.routeMu.Unlock()
	}
	// A new keepalive interval takes effect at once (the kernel does the
	// same), which also starts the handshake of a fresh peer.
	if keepaliveChanged && t.isUp.Load() && p.keepaliveInterval() > 0 {
		p.sendKeepalive()
	}
	return changed
}

// removePeer takes a peer out of every table and stops its timers.
func (t *Tunnel) removePeer(p *Peer) {
	t.mu.Lock()
	if t.peers[p.pub] != p {
		t.mu.Unlock()
		return
	}
	delete(t.peers, p.pub)
	t.mu.Unlock()
	p.removed.Store(true)
	t.routeMu.Lock()
	t.routes.RemoveValue(p)
	t.routeMu.Unlock()
	p.stopTimers()
	p.zeroKeys()
	p.dropStaged()
	// Secrets that outlive nothing once the peer is gone: the cached
	// static-static DH and the preshared key.
	p.hsMu.Lock()
	p.ssValid = false
	clear(p.ss[:])
	p.hsMu.Unlock()
	p.mu.Lock()
	clear(p.psk[:])
	p.mu.Unlock()
}

// Snapshot returns the configuration and counters of the interface and
// every peer, peers in the order they were added.
func (t *Tunnel) Snapshot() Snapshot {
	t.mu.RLock()
	s := Snapshot{ListenPort: t.listenPort, FwMark: t.fwmark}
	if t.keyStore != nil {
		s.PublicKey = t.keyStore.PublicKey()
		if h, ok := t.keyStore.(PrivateKeyHolder); ok && !t.keyManaged {
			k := h.PrivateKey()
			s.PrivateKey = &k
		}
	}
	peers := make([]*Peer, 0, len(t.peers))
	for _, p := range t.peers {
		peers = append(peers, p)
	}
	t.mu.RUnlock()
	t.bindMu.RLock()
	if t.bindOpen {
		s.ListenPort = t.boundPort
	}
	t.bindMu.RUnlock()
	sort.Slice(peers, func(i, j int) bool { return peers[i].seq < peers[j].seq })
	now := t.clock.Now()
	s.Peers = make([]PeerSnapshot, len(peers))
	for i, p := range peers {
		ps := &s.Peers[i]
		ps.PublicKey = p.pub
		ps.ProtocolVersion = 1
		p.mu.RLock()
		ps.PresharedKey = p.psk
		ps.PersistentKeepalive = p.keepalive
		if p.endpoint != nil {
			ps.Endpoint = p.endpoint.DstAddrPort()
		}
		p.mu.RUnlock()
		if ns := p.lastHandshake.Load(); ns != 0 {
			ps.LastHandshake = time.Unix(0, ns)
		}
		ps.RxBytes = p.rxBytes.Load()
		ps.TxBytes = p.txBytes.Load()
		// A short read lock per peer: a writer waiting on routeMu holds
		// up the data path's readers, so never hold it for the whole list.
		t.routeMu.RLock()
		ps.AllowedIPs = t.routes.Prefixes(p)
		t.routeMu.RUnlock()
		ps.State = p.state(now)
	}
	return s
}
