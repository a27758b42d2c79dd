// SPDX-License-Identifier: MIT

package uapi

import (
	"net/netip"

	"github.com/wgplex/wgplex/core"
)

// The bounds of a set request. A request is refused as soon as it passes
// one, while it is being read, so that a client cannot make the daemon hold
// more than a small multiple of what it has sent: the limits are checked
// line by line, not after the whole request is in memory.
const (
	// MaxAllowedIPsPerPeer bounds the allowed_ip lines of one peer in one
	// request (after replace_allowed_ips, which starts the list afresh).
	// A peer routing a full IPv4 Internet table in its finest published
	// aggregation needs about a million prefixes; 2^16 is far above what
	// a tunnel peer is given in practice and keeps one peer section of one
	// request under 4 MB.
	MaxAllowedIPsPerPeer = 1 << 16

	// peerSectionBudget is the size of the largest peer section a full
	// configuration is expected to hold on average: a public key (76
	// bytes), a preshared key (79), an IPv6 endpoint with a zone (about
	// 75), a keepalive (37), replace_allowed_ips (25), protocol_version
	// (19) and two allowed IPv6 prefixes (about 100).
	peerSectionBudget = 448
	// deviceSectionBudget covers the interface lines before the first
	// peer (private key, port, fwmark, replace_peers).
	deviceSectionBudget = 4 << 10

	// MaxSetLen bounds one set request in bytes: the largest interface
	// (core.MaxPeers peers) at peerSectionBudget bytes each, 448 MiB. A
	// request that must say more (many more allowed IPs per peer) can be
	// split, as `wg addconf` and `wg set` allow.
	MaxSetLen = deviceSectionBudget + core.MaxPeers*peerSectionBudget
)

// PeerCounter is what ParseSetFor needs to know about the tunnel to apply
// the peer limit while it reads: how many peers there are and whether a
// key is one of them. core.Tunnel implements it. The answers may be stale
// by the time the change set is applied; the core checks the limit again
// then, so that is only a matter of when the refusal comes.
type PeerCounter interface {
	PeerCount() int
	HasPeer(core.PublicKey) bool
}

// Chunk sizes of the parser's arenas: large enough that allocation is
// rare, small enough that the unused tail of the last chunk is noise.
const (
	peerChunk  = 4096
	ipChunk    = 8192
	smallChunk = 1024
)

// arena hands out the parsed values that core.PeerConfig points to or
// slices into, from chunks that are filled and never grown: appending to a
// Go slice doubles it and copies, which at a million peers means holding
// the old array, the new one and its unused half at the same moment. Here a
// value costs its own size and nothing is copied, except the allowed IPs of
// the one peer being read when its chunk runs out.
type arena struct {
	peers [][]core.PeerConfig
	ips   []core.AllowedIPChange
	// ipStart is where the current peer's allowed IPs begin in ips.
	ipStart int
	eps     []netip.AddrPort
	kas     []uint16
	psks    []core.PresharedKey
}

// newPeer appends a peer and returns it.
func (a *arena) newPeer(pk core.PublicKey) *core.PeerConfig {
	if n := len(a.peers); n == 0 || len(a.peers[n-1]) == cap(a.peers[n-1]) {
		a.peers = append(a.peers, make([]core.PeerConfig, 0, peerChunk))
	}
	last := &a.peers[len(a.peers)-1]
	*last = append(*last, core.PeerConfig{PublicKey: pk})
	a.ipStart = len(a.ips)
	return &(*last)[len(*last)-1]
}

// addIP appends a change to the allowed IPs of peer, the current peer.
func (a *arena) addIP(peer *core.PeerConfig, c core.AllowedIPChange) {
	if len(a.ips) == cap(a.ips) {
		run := a.ips[a.ipStart:]
		next := make([]core.AllowedIPChange, len(run), max(ipChunk, 2*len(run)))
		copy(next, run)
		a.ips, a.ipStart = next, 0
	}
	a.ips = append(a.ips, c)
	// A full slice expression: a later append by the core must not write
	// into the next peer's entries.
	peer.AllowedIPs = a.ips[a.ipStart:len(a.ips):len(a.ips)]
}

// resetIPs forgets the current peer's allowed IPs (replace_allowed_ips).
func (a *arena) resetIPs(peer *core.PeerConfig) {
	a.ips = a.ips[:a.ipStart]
	if peer.AllowedIPs != nil {
		peer.AllowedIPs = peer.AllowedIPs[:0]
	}
}

// Values behind pointers are overwritten in place when a key repeats, so
// that repeating a line costs no memory.

func (a *arena) endpoint(peer *core.PeerConfig, ap netip.AddrPort) {
	if peer.Endpoint == nil {
		if len(a.eps) == cap(a.eps) {
			a.eps = make([]netip.AddrPort, 0, smallChunk)
		}
		a.eps = append(a.eps, netip.AddrPort{})
		peer.Endpoint = &a.eps[len(a.eps)-1]
	}
	*peer.Endpoint = ap
}

func (a *arena) keepalive(peer *core.PeerConfig, secs uint16) {
	if peer.PersistentKeepalive == nil {
		if len(a.kas) == cap(a.kas) {
			a.kas = make([]uint16, 0, smallChunk)
		}
		a.kas = append(a.kas, 0)
		peer.PersistentKeepalive = &a.kas[len(a.kas)-1]
	}
	*peer.PersistentKeepalive = secs
}

func (a *arena) psk(peer *core.PeerConfig, k *[keyLen]byte) {
	if peer.PresharedKey == nil {
		if len(a.psks) == cap(a.psks) {
			a.psks = make([]core.PresharedKey, 0, smallChunk)
		}
		a.psks = append(a.psks, core.PresharedKey{})
		peer.PresharedKey = &a.psks[len(a.psks)-1]
	}
	copy(peer.PresharedKey[:], k[:])
}

// count is the number of peers parsed.
func (a *arena) count() int {
	n := 0
	for _, c := range a.peers {
		n += len(c)
	}
	return n
}

// wipe clears the preshared keys parsed so far (a request that failed).
func (a *arena) wipe() {
	for _, c := range a.peers {
		for i := range c {
			if c[i].PresharedKey != nil {
				clear(c[i].PresharedKey[:])
			}
		}
	}
}

// take returns the peers as one slice, the shape core.Config has. Each
// chunk is dropped as soon as it is copied.
func (a *arena) take() []core.PeerConfig {
	n := a.count()
	if n == 0 {
		return nil
	}
	out := make([]core.PeerConfig, 0, n)
	for i := range a.peers {
		out = append(out, a.peers[i]...)
		clear(a.peers[i][:cap(a.peers[i])])
		a.peers[i] = nil
	}
	a.peers = nil
	return out
}

// WipeConfig overwrites the secrets of a parsed change set (the private
// key and the preshared keys) once it has been applied or refused.
func WipeConfig(c *core.Config) {
	if c.PrivateKey != nil {
		clear(c.PrivateKey[:])
	}
	for i := range c.Peers {
		if c.Peers[i].PresharedKey != nil {
			clear(c.Peers[i].PresharedKey[:])
		}
	}
}
