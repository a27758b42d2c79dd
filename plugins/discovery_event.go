// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// generationSource is what a tunnel offers to tell whether its
// configuration changed (core.Tunnel has it). Without it every record
// event is a full reconciliation.
type generationSource interface {
	Generation() uint64
	Changed(gen uint64) <-chan struct{}
}

// generation is the tunnel's configuration generation, false if the
// tunnel does not count them.
func (b *peerBook) generation() (uint64, bool) {
	g, ok := b.tun.(generationSource)
	if !ok {
		return 0, false
	}
	return g.Generation(), true
}

// viewCurrent reports whether nobody but discovery changed the tunnel
// since the book last looked at it: its key, hand-configured peers and
// discovered peers are then what the book has. b.mu is held.
func (b *peerBook) viewCurrent() bool {
	g, ok := b.generation()
	return ok && b.viewOK && g == b.viewGen
}

// tunnelChanged reconciles in full if the tunnel was changed by someone
// other than discovery (a peer added or removed through wg(8), a new
// interface key); it reports whether it did.
func (b *peerBook) tunnelChanged() bool {
	b.mu.Lock()
	current := b.viewCurrent()
	b.mu.Unlock()
	if current {
		return false
	}
	b.refresh()
	return true
}

// event reconciles the record of key k alone (added, changed or gone):
// its prefixes are checked against the claim index and only its peer is
// applied. When the book's view of the tunnel is stale it falls back to a
// full reconciliation. b.mu is held.
func (b *peerBook) event(k core.PublicKey) {
	if !b.viewCurrent() {
		b.reconcile()
		return
	}
	freed := b.one(k, time.Now())
	if _, ok := b.records[k]; !ok {
		delete(b.refused, k)
		delete(b.gateRefuse, k)
		if b.gate != nil {
			delete(b.gate.good, k)
		}
	}
	if freed && len(b.refused) > 0 && (b.gate != nil && b.gate.policy.Roots != nil) {
		// Without holds a freed prefix is free at once: records refused
		// for overlapping it may now fit, in key order as in a full pass.
		waiting := make([]core.PublicKey, 0, len(b.refused))
		for r := range b.refused {
			waiting = append(waiting, r)
		}
		sort.Slice(waiting, func(i, j int) bool { return bytes.Compare(waiting[i][:], waiting[j][:]) < 0 })
		for _, r := range waiting {
			if b.viewCurrent() {
				b.one(r, time.Now())
			}
		}
	}
}

// one applies what the record of key k now calls for and reports whether
// its peer gave up prefixes. b.mu is held.
func (b *peerBook) one(k core.PublicKey, now time.Time) bool {
	w := b.check(k, now)
	old := b.owned[k]
	var pc core.PeerConfig
	switch {
	case w == nil && old == nil:
		return false
	case w == nil:
		pc = core.PeerConfig{PublicKey: k, Remove: true}
	default:
		var changed bool
		if pc, changed = b.change(k, w); !changed {
			return false
		}
	}
	var before []netip.Prefix
	if old != nil {
		before = old.allowed
	}
	g0, _ := b.generation()
	if err := b.tun.Apply(core.Config{Peers: []core.PeerConfig{pc}}); err != nil {
		b.log.Error("Discovery could not apply a peer", "peer", k.String(), "err", err)
		return false
	}
	b.record(&pc, map[core.PublicKey]*wanted{k: w})
	if g, _ := b.generation(); g != g0+1 {
		b.viewOK = false // someone else changed it meanwhile, or nothing changed
	} else {
		b.viewGen = g
	}
	for _, p := range before {
		b.claims.del(p, claimOwned, k)
	}
	var after []netip.Prefix
	if op := b.owned[k]; op != nil {
		after = op.allowed
		for _, p := range after {
			b.claims.add(claim{prefix: p, kind: claimOwned, holder: k})
		}
	}
	if b.onOwned != nil {
		b.onOwned()
	}
	for _, p := range before {
		if !slices.Contains(after, p) {
			return true
		}
	}
	return false
}

// prepared is a record's endpoint and PSK, resolved and read without the
// book's lock (a lookup may take seconds, a file read may block).
type prepared struct {
	endpoints []string       // the endpoints resolved
	endpoint  netip.AddrPort // the first that resolved; zero if none
	errs      string         // why the others did not
	pskRef    string         // the PSK reference read
	psk       core.PresharedKey
	pskErr    string // why it could not be read
}

// prepare resolves r's endpoints (unless discovery's peer for the key
// already has these endpoints: what it resolved then stays) and reads
// its PSK. It takes b.mu only briefly.
func (b *peerBook) prepare(r *sdk.Record) *prepared {
	k := core.PublicKey(r.PublicKey)
	b.mu.Lock()
	op := b.owned[k]
	skip := op != nil && slices.Equal(op.rec.Endpoints, r.Endpoints)
	p := &prepared{endpoints: slices.Clone(r.Endpoints), pskRef: r.PSKRef}
	if skip {
		p.endpoint = op.endpoint
	}
	b.mu.Unlock()
	if !skip {
		var errs []string
		for _, e := range r.Endpoints {
			ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
			ap, err := b.resolve(ctx, e)
			cancel()
			if err == nil && ap.IsValid() && ap.Port() != 0 {
				p.endpoint = ap
				break
			}
			errs = append(errs, fmt.Sprintf("%s: %v", e, err))
		}
		p.errs = strings.Join(errs, "; ")
	}
	b.readPSK(p)
	return p
}

// readPSK reads p.pskRef from the PSK directory into p.
func (b *peerBook) readPSK(p *prepared) {
	switch {
	case p.pskRef == "":
	case b.pskDir == "":
		p.pskErr = fmt.Sprintf("names pre-shared key %q but the daemon has no PSK directory", p.pskRef)
	default:
		key, err := config.ReadKeyFile(filepath.Join(b.pskDir, p.pskRef))
		if err != nil {
			p.pskErr = fmt.Sprintf("pre-shared key %q: %v", p.pskRef, err)
			return
		}
		p.psk = core.PresharedKey(key)
		clear(key[:])
	}
}

// prepareAll prepares every record, without the lock.
func (b *peerBook) prepareAll(recs []sdk.Record) map[core.PublicKey]*prepared {
	out := make(map[core.PublicKey]*prepared, len(recs))
	for i := range recs {
		out[core.PublicKey(recs[i].PublicKey)] = b.prepare(&recs[i])
	}
	return out
}

// setPrep installs what prepareAll made for the records as they are now:
// an entry made for a record that changed meanwhile (an event came while
// the lookups ran) leaves the newer one in place. Replaced PSKs are
// wiped. b.mu is held.
func (b *peerBook) setPrep(prep map[core.PublicKey]*prepared) {
	for k, p := range prep {
		r, ok := b.records[k]
		if !ok || !slices.Equal(p.endpoints, r.Endpoints) || p.pskRef != r.PSKRef {
			clear(p.psk[:])
			continue
		}
		if old := b.prep[k]; old != nil && old != p {
			clear(old.psk[:])
		}
		b.prep[k] = p
	}
	for k, p := range b.prep {
		if _, ok := b.records[k]; !ok {
			clear(p.psk[:])
			delete(b.prep, k)
		}
	}
}

// prepFor is what was prepared for r. A record the trust policy rewrote
// (a signed record names its own endpoints and PSK) may differ from the
// one prepared: its endpoints are then taken only if they are literal
// addresses, which signed ones are, and its PSK is read here. b.mu is
// held.
func (b *peerBook) prepFor(k core.PublicKey, r *sdk.Record) *prepared {
	p := b.prep[k]
	if p != nil && slices.Equal(p.endpoints, r.Endpoints) && p.pskRef == r.PSKRef {
		return p
	}
	q := &prepared{endpoints: slices.Clone(r.Endpoints), pskRef: r.PSKRef}
	var errs []string
	for _, e := range r.Endpoints {
		ap, err := netip.ParseAddrPort(e)
		if err == nil && ap.Port() != 0 {
			q.endpoint = ap
			break
		}
		errs = append(errs, fmt.Sprintf("%s: not resolved yet", e))
	}
	q.errs = strings.Join(errs, "; ")
	if p != nil && p.pskRef == r.PSKRef {
		q.psk, q.pskErr = p.psk, p.pskErr
	} else {
		b.readPSK(q)
	}
	b.prep[k] = q
	return q
}

// reresolve looks up again the endpoints of discovered peers that were
// announced as host names, as wg-quick users do with reresolve-dns: a
// node whose name now points elsewhere is followed. Lookups run without
// the lock; a peer is changed only if its record is still the one
// looked up and the name now gives another address than it gave before
// (an endpoint the peer roamed to is not undone while the name stays put).
func (b *peerBook) reresolve(ctx context.Context) {
	type job struct {
		k         core.PublicKey
		endpoints []string
	}
	var jobs []job
	b.mu.Lock()
	for k, op := range b.owned {
		for _, e := range op.rec.Endpoints {
			if _, err := netip.ParseAddrPort(e); err != nil {
				jobs = append(jobs, job{k, slices.Clone(op.rec.Endpoints)})
				break
			}
		}
	}
	b.mu.Unlock()
	for _, j := range jobs {
		if ctx.Err() != nil {
			return
		}
		var ap netip.AddrPort
		for _, e := range j.endpoints {
			lctx, cancel := context.WithTimeout(ctx, resolveTimeout)
			got, err := b.resolve(lctx, e)
			cancel()
			if err == nil && got.IsValid() && got.Port() != 0 {
				ap = got
				break
			}
		}
		if !ap.IsValid() {
			continue // keep what there is; a failed lookup is no news
		}
		b.mu.Lock()
		op := b.owned[j.k]
		if op != nil && slices.Equal(op.rec.Endpoints, j.endpoints) && op.endpoint != ap {
			pc := core.PeerConfig{PublicKey: j.k, UpdateOnly: true, Endpoint: &ap}
			g0, _ := b.generation()
			if err := b.tun.Apply(core.Config{Peers: []core.PeerConfig{pc}}); err != nil {
				b.log.Warn("Discovered peer's new address not applied", "peer", j.k.String(), "err", err)
			} else {
				b.log.Info("Discovered peer's endpoint resolves to a new address", "peer", j.k.String(), "endpoint", ap.String())
				op.endpoint = ap
				if p := b.prep[j.k]; p != nil && slices.Equal(p.endpoints, j.endpoints) {
					p.endpoint = ap
				}
				if g, _ := b.generation(); g != g0+1 {
					b.viewOK = false
				} else {
					b.viewGen = g
				}
			}
		}
		b.mu.Unlock()
	}
}
