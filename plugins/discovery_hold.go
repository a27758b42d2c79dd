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

// hold reserves for k the prefixes in before that are not in after. b.mu
// is held.
func (b *peerBook) hold(k core.PublicKey, before, after []netip.Prefix) {
	if b.gate != nil && b.gate.policy.Roots != nil {
		// Certificates bind prefixes to keys: nobody else can claim them.
		return
	}
	until := time.Now().Add(holdTime)
	for _, p := range before {
		if !slices.Contains(after, p) {
			b.held[p] = heldPrefix{key: k, until: until}
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
		delete(b.held, oldest)
	}
}

// heldClaims drops the holds that ran out and adds the others to claims,
// together with the prefixes every discovered peer has now: within one
// reconciliation, too, a record can only take what no other peer holds,
// even if the holder's own record gives it up in the same batch. b.mu is
// held.
func (b *peerBook) heldClaims(claims []claim) []claim {
	if b.gate != nil && b.gate.policy.Roots != nil {
		return claims
	}
	for k, op := range b.owned {
		for _, p := range op.allowed {
			claims = append(claims, claim{prefix: p, owner: "discovered peer " + k.String(), holder: k})
		}
	}
	now := time.Now()
	for p, h := range b.held {
		if now.After(h.until) {
			delete(b.held, p)
			continue
		}
		claims = append(claims, claim{prefix: p, owner: "the recently given-up address of discovered peer " + h.key.String(), holder: h.key})
	}
	return claims
}

// holdExpired reports whether a hold has run out since it was set, which
// may let a waiting record in. b.mu is held.
func (b *peerBook) holdExpired(now time.Time) bool {
	for _, h := range b.held {
		if now.After(h.until) {
			return true
		}
	}
	return false
}
