// SPDX-License-Identifier: MIT

package plugins

import (
	"net/netip"
	"slices"
	"time"

	"github.com/wgplex/wgplex/core"
)

// A prefix that a discovered peer gives up (its record changed, or left
// the registry) is held for it for holdTime: no other key can claim it
// meanwhile, the peer itself can. Without this, whoever can write the
// registry moves a node's address to another key in two steps: rewrite
// the node's record to another address, then claim the freed one. The
// node puts its own record back within a second or two; the hold makes
// sure its address is still its own when it does. With a fleet CA the
// certificates bind prefixes to keys and nothing is held.

// holdTime is how long a given-up prefix stays reserved for its peer.
var holdTime = 30 * time.Second

// maxHeld bounds the held prefixes; past it the oldest holds go first.
const maxHeld = 1 << 16

// heldPrefix is who gave up a prefix and until when it is theirs.
type heldPrefix struct {
	key   core.PublicKey
	until time.Time
}

// hold reserves for k the prefixes in before that are not in after, and
// keeps the claim index in step. b.mu is held.
func (b *peerBook) hold(k core.PublicKey, before, after []netip.Prefix) {
	if b.gate != nil && b.gate.policy.Roots != nil {
		// Certificates bind prefixes to keys: nobody else can claim them.
		return
	}
	until := time.Now().Add(holdTime)
	for _, p := range before {
		if !slices.Contains(after, p) {
			if old, ok := b.held[p]; ok {
				b.claims.del(p, claimHeld, old.key)
			}
			b.held[p] = heldPrefix{key: k, until: until}
			b.claims.add(claim{prefix: p, kind: claimHeld, holder: k, until: until})
			b.noteDeadline(until)
		}
	}
	for len(b.held) > maxHeld {
		var oldest netip.Prefix
		first := true
		for p, h := range b.held {
			if first || h.until.Before(b.held[oldest].until) {
				oldest, first = p, false
			}
		}
		b.claims.del(oldest, claimHeld, b.held[oldest].key)
		delete(b.held, oldest)
	}
}

// indexClaims rebuilds the claim index: this node's prefixes, the
// hand-configured peers' (from snap), every discovered peer's, and the
// holds still running (within one reconciliation, too, a record can only
// take what no other peer holds, even if the holder's own record gives
// it up in the same batch). b.mu is held.
func (b *peerBook) indexClaims(snap core.Snapshot) {
	x := newClaimIndex()
	for _, p := range b.self {
		x.add(claim{prefix: p, kind: claimSelf})
	}
	for i := range snap.Peers {
		p := &snap.Peers[i]
		if !b.manual[p.PublicKey] {
			continue
		}
		for _, a := range p.AllowedIPs {
			x.add(claim{prefix: a, kind: claimManual, holder: p.PublicKey})
		}
	}
	for k, op := range b.owned {
		for _, p := range op.allowed {
			x.add(claim{prefix: p, kind: claimOwned, holder: k})
		}
	}
	now := time.Now()
	for p, h := range b.held {
		if now.After(h.until) {
			delete(b.held, p)
			continue
		}
		x.add(claim{prefix: p, kind: claimHeld, holder: h.key, until: h.until})
	}
	b.claims = x
}

// nextHoldEnd is when the first running hold ends; zero without any.
// b.mu is held.
func (b *peerBook) nextHoldEnd() time.Time {
	var t time.Time
	for _, h := range b.held {
		if t.IsZero() || h.until.Before(t) {
			t = h.until
		}
	}
	return t
}
