// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// resolveTimeout bounds the lookup of one host:port endpoint.
const resolveTimeout = 5 * time.Second

// peerBook turns the registry a discovery plugin reports into peers of the
// tunnel, and remembers which peers it made: only those are ever changed
// or removed. A snapshot, or a change of the tunnel made by someone else,
// leads to a full reconciliation: the accepted set is computed from all
// records, then the difference with what discovery put in the tunnel is
// applied as one change set. A single record event, while the book's view
// of the tunnel is current, is reconciled on its own (discovery_event.go):
// its prefixes are looked up in the claim index and only its peer is
// applied, so its cost does not grow with the fleet.
//
// A record is refused (and logged once per reason) when it names this
// node's key, a peer configured by hand, a PSK the daemon cannot read, or
// allowed IPs that overlap this node's announced ones, a hand-configured
// peer's, or those of a record accepted before it. Peers discovery made
// earlier keep precedence over newcomers (in the order they were made),
// so a late conflicting announcement cannot take addresses away from a
// node that already has them.
type peerBook struct {
	log     *slog.Logger
	tun     DiscoveryTunnel
	self    []netip.Prefix // this node's announced prefixes, masked
	pskDir  string
	resolve func(ctx context.Context, endpoint string) (netip.AddrPort, error)

	gate    *trustGate        // nil: no trust policy (tests of the book alone)
	onOwned func()            // told that the owned peers changed; may be nil; runs with b.mu held
	metrics *DiscoveryMetrics // nil: not counted
	logs    logLimiter

	mu         sync.Mutex
	records    map[core.PublicKey]sdk.Record // the registry as last reported
	prefixes   int                           // allowed IPs of all the records
	owned      map[core.PublicKey]*ownedPeer // peers discovery put in the tunnel
	refused    map[core.PublicKey]string     // why a record is not applied
	gateRefuse map[core.PublicKey]string     // last trust refusal per key: reason and record fingerprint
	held       map[netip.Prefix]heldPrefix   // prefixes a discovered peer gave up lately
	seq        uint64
	deadline   time.Time // when a hold or a certificate in use ends next

	// What the book knows of the tunnel, valid while the tunnel's
	// generation is viewGen (see viewCurrent).
	claims  *claimIndex
	pub     core.PublicKey          // the interface's key
	manual  map[core.PublicKey]bool // peers configured by hand
	viewGen uint64
	viewOK  bool
	// prep holds each record's endpoint and PSK, resolved and read
	// before the lock is taken.
	prep map[core.PublicKey]*prepared
}

// ownedPeer is what discovery applied to one peer.
type ownedPeer struct {
	seq      uint64
	rec      sdk.Record
	allowed  []netip.Prefix // masked, sorted
	endpoint netip.AddrPort // zero if none could be resolved
	psk      core.PresharedKey
}

func newPeerBook(log *slog.Logger, tun DiscoveryTunnel, self []netip.Prefix, pskDir string,
	resolve func(context.Context, string) (netip.AddrPort, error)) *peerBook {
	if resolve == nil {
		resolve = config.ResolveEndpoint
	}
	return &peerBook{
		log:     log,
		tun:     tun,
		self:    normalize(self),
		pskDir:  pskDir,
		resolve: resolve,
		records: make(map[core.PublicKey]sdk.Record),
		owned:   make(map[core.PublicKey]*ownedPeer),
		refused: make(map[core.PublicKey]string),

		gateRefuse: make(map[core.PublicKey]string),
		held:       make(map[netip.Prefix]heldPrefix),
		claims:     newClaimIndex(),
		manual:     make(map[core.PublicKey]bool),
		prep:       make(map[core.PublicKey]*prepared),
	}
}

// snapshot replaces the registry view and reconciles: discovery's peers
// that are no longer in the registry go, everything else stays.
func (b *peerBook) snapshot(recs []sdk.Record) {
	prep := b.prepareAll(recs)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = make(map[core.PublicKey]sdk.Record, len(recs))
	b.prefixes = 0
	for _, r := range recs {
		k := core.PublicKey(r.PublicKey)
		b.prefixes += len(r.AllowedIPs) - len(b.records[k].AllowedIPs)
		b.records[k] = r
	}
	b.setPrep(prep)
	b.reconcile()
}

// upsert applies one added or changed record.
func (b *peerBook) upsert(r sdk.Record) {
	k := core.PublicKey(r.PublicKey)
	p := b.prepare(&r)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prefixes += len(r.AllowedIPs) - len(b.records[k].AllowedIPs)
	b.records[k] = r
	if old := b.prep[k]; old != nil {
		clear(old.psk[:])
	}
	b.prep[k] = p
	b.event(k)
}

// remove drops one record.
func (b *peerBook) remove(k sdk.Key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prefixes -= len(b.records[core.PublicKey(k)].AllowedIPs)
	delete(b.records, core.PublicKey(k))
	if p := b.prep[core.PublicKey(k)]; p != nil {
		clear(p.psk[:])
		delete(b.prep, core.PublicKey(k))
	}
	b.event(core.PublicKey(k))
}

// setSelf sets this node's announced prefixes and reports whether they
// changed; the caller reconciles.
func (b *peerBook) setSelf(ps []netip.Prefix) bool {
	n := normalize(ps)
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.Equal(n, b.self) {
		return false
	}
	b.self = n
	return true
}

// lost reports whether a peer discovery made is missing from snap.
func (b *peerBook) lost(snap core.Snapshot) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.owned) == 0 {
		return false
	}
	n := 0
	for i := range snap.Peers {
		if b.owned[snap.Peers[i].PublicKey] != nil {
			n++
		}
	}
	return n < len(b.owned)
}

// refresh reconciles without a registry change (the interface's key
// changed, say).
// PSK files and endpoints are read and resolved again first (a PSK file
// may have appeared).
func (b *peerBook) refresh() {
	b.mu.Lock()
	recs := make([]sdk.Record, 0, len(b.records))
	for _, r := range b.records {
		recs = append(recs, r)
	}
	b.mu.Unlock()
	prep := b.prepareAll(recs)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.setPrep(prep)
	b.reconcile()
}

// ownedKeys lists the peers discovery manages, for tests and logs.
func (b *peerBook) ownedKeys() []core.PublicKey {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sortedOwned()
}

// sortedOwned is ownedKeys with b.mu held.
func (b *peerBook) sortedOwned() []core.PublicKey {
	keys := make([]core.PublicKey, 0, len(b.owned))
	for k := range b.owned {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i][:], keys[j][:]) < 0 })
	return keys
}

// claim is a prefix already taken, and by whom.
type claim struct {
	prefix netip.Prefix
	kind   claimKind
	holder core.PublicKey // whose it is (not for claimSelf)
	until  time.Time      // claimHeld: when the hold ends
}

// owner names who holds the claim, for the log.
func (c *claim) owner() string {
	switch c.kind {
	case claimSelf:
		return "this node"
	case claimManual:
		return "hand-configured peer " + c.holder.String()
	case claimHeld:
		return "the recently given-up address of discovered peer " + c.holder.String()
	}
	return "discovered peer " + c.holder.String()
}

// wanted is a record accepted for the tunnel, with what it resolves to.
type wanted struct {
	rec      sdk.Record
	allowed  []netip.Prefix
	endpoint netip.AddrPort
	psk      core.PresharedKey
}

// reconcile brings the tunnel in line with the records: a full pass over
// the registry. b.mu is held.
func (b *peerBook) reconcile() {
	g0, hasGen := b.generation()
	snap := b.tun.Snapshot()
	present := make(map[core.PublicKey]*core.PeerSnapshot, len(snap.Peers))
	for i := range snap.Peers {
		present[snap.Peers[i].PublicKey] = &snap.Peers[i]
	}
	for k := range b.owned {
		if present[k] == nil {
			// Removed through the UAPI, or by the core when the interface
			// took this key. It is not ours any more; if the registry
			// still has it, it is added again below as a new peer.
			b.log.Info("Discovered peer was removed from the interface by other means", "peer", k.String())
			delete(b.owned, k)
		}
	}
	b.pub = snap.PublicKey
	clear(b.manual)
	for i := range snap.Peers {
		if b.owned[snap.Peers[i].PublicKey] == nil {
			b.manual[snap.Peers[i].PublicKey] = true
		}
	}
	b.indexClaims(snap)

	// Peers discovery already made come first, oldest first; then new
	// records in key order, so that the outcome does not depend on the
	// order events arrived in.
	order := make([]core.PublicKey, 0, len(b.records))
	for k := range b.records {
		order = append(order, k)
	}
	sort.Slice(order, func(i, j int) bool {
		oi, oj := b.owned[order[i]], b.owned[order[j]]
		switch {
		case oi != nil && oj != nil:
			return oi.seq < oj.seq
		case oi != nil || oj != nil:
			return oi != nil
		}
		return bytes.Compare(order[i][:], order[j][:]) < 0
	})

	accepted := make(map[core.PublicKey]*wanted, len(order))
	now := time.Now()
	for _, k := range order {
		w := b.check(k, now)
		if w == nil {
			continue
		}
		accepted[k] = w
		// Taken for the rest of this pass (the index is rebuilt below).
		for _, p := range w.allowed {
			b.claims.add(claim{prefix: p, kind: claimOwned, holder: k})
		}
	}
	for k := range b.refused {
		if _, ok := b.records[k]; !ok {
			delete(b.refused, k)
		}
	}
	for k := range b.gateRefuse {
		if _, ok := b.records[k]; !ok {
			delete(b.gateRefuse, k)
		}
	}
	if b.gate != nil {
		b.gate.forget(b.records)
	}
	applied := b.apply(accepted)
	// The index now follows what was applied, not what was tried.
	b.indexClaims(snap)
	b.resetDeadline(time.Now())
	b.viewOK = hasGen
	b.viewGen = g0 + uint64(applied)
}

// check runs the trust policy and the claims on the record of key k and
// reports the peer to make of it, nil if none (refusals are logged and
// counted here). b.mu is held.
func (b *peerBook) check(k core.PublicKey, now time.Time) *wanted {
	r, ok := b.records[k]
	if !ok {
		return nil
	}
	if k == b.pub {
		delete(b.refused, k)
		return nil // our own record, reflected back by the registry
	}
	manual := b.manual[k]
	if b.gate != nil && !manual {
		res := b.gate.check(k, &r)
		b.noteGate(k, &r, res)
		if res.use == nil {
			return nil
		}
		r = *res.use
		if v := b.gate.good[k]; v != nil && v.cert != nil {
			b.noteDeadline(v.cert.NotAfter)
		}
	}
	w, label, reason := b.accept(k, &r, manual, now)
	if reason != "" {
		if b.refused[k] != reason {
			b.refused[k] = reason
			lvl := slog.LevelWarn
			if manual {
				lvl = slog.LevelInfo
			}
			b.metrics.reject(label)
			b.logs.log(b.log, lvl, "Discovery record refused", "peer", k.String(), "name", r.Name, "reason", label, "detail", reason)
		}
		return nil
	}
	if _, was := b.refused[k]; was {
		delete(b.refused, k)
		b.log.Info("Discovery record accepted after an earlier refusal", "peer", k.String(), "name", r.Name)
	}
	return w
}

// accept checks one record against what is already claimed and takes
// its endpoint and PSK from what was resolved and read before the lock;
// it returns why not if the record cannot be used.
func (b *peerBook) accept(k core.PublicKey, r *sdk.Record, manual bool, now time.Time) (*wanted, string, string) {
	if manual {
		return nil, reasonHandConfigured, "a peer with this key is configured by hand; discovery leaves it alone"
	}
	w := &wanted{rec: *r, allowed: normalize(r.AllowedIPs)}
	for _, p := range w.allowed {
		if c, ok := b.claims.overlap(p, k, now); ok {
			return nil, reasonOverlap, fmt.Sprintf("allowed IP %s overlaps %s of %s", p, c.prefix, c.owner())
		}
	}
	pr := b.prepFor(k, r)
	if r.PSKRef != "" {
		if pr.pskErr != "" {
			return nil, reasonPSK, pr.pskErr
		}
		w.psk = pr.psk
	}
	old := b.owned[k]
	if old != nil && slices.Equal(old.rec.Endpoints, r.Endpoints) {
		// Unchanged announcement: keep what was resolved, and do not undo
		// roaming by setting it again.
		w.endpoint = old.endpoint
		return w, "", ""
	}
	w.endpoint = pr.endpoint
	if !w.endpoint.IsValid() && len(r.Endpoints) > 0 {
		// Still usable: the node can reach us and roaming fills the
		// endpoint in.
		b.log.Warn("Discovered peer has no usable endpoint", "peer", k.String(), "errors", pr.errs)
	}
	return w, "", ""
}

// apply turns the difference between the accepted records and the owned
// peers into one change set. If the tunnel refuses it, each change is
// tried alone so that one bad record cannot hold up the others. It
// returns how many Apply calls succeeded.
func (b *peerBook) apply(accepted map[core.PublicKey]*wanted) int {
	var changes []core.PeerConfig
	for k := range b.owned {
		if accepted[k] == nil {
			changes = append(changes, core.PeerConfig{PublicKey: k, Remove: true})
		}
	}
	for k, w := range accepted {
		if pc, ok := b.change(k, w); ok {
			changes = append(changes, pc)
		}
	}
	if len(changes) == 0 {
		return 0
	}
	if b.onOwned != nil {
		defer b.onOwned()
	}
	// Removals first frees their prefixes before additions claim them.
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Remove && !changes[j].Remove })
	err := b.tun.Apply(core.Config{Peers: changes})
	if err == nil {
		for i := range changes {
			b.record(&changes[i], accepted)
		}
		return 1
	}
	b.log.Warn("Discovery change set refused by the tunnel; applying peer by peer", "err", err)
	n := 0
	for i := range changes {
		if err := b.tun.Apply(core.Config{Peers: changes[i : i+1]}); err != nil {
			b.log.Error("Discovery could not apply a peer", "peer", changes[i].PublicKey.String(), "err", err)
			continue
		}
		n++
		b.record(&changes[i], accepted)
	}
	return n
}

// change is the PeerConfig that makes peer k what w says, and false if it
// is that already.
func (b *peerBook) change(k core.PublicKey, w *wanted) (core.PeerConfig, bool) {
	pc := core.PeerConfig{PublicKey: k}
	old := b.owned[k]
	if old == nil {
		pc.ReplaceAllowedIPs = true
		for _, p := range w.allowed {
			pc.AllowedIPs = append(pc.AllowedIPs, core.AllowedIPChange{Prefix: p})
		}
		if w.endpoint.IsValid() {
			ep := w.endpoint
			pc.Endpoint = &ep
		}
		ka := w.rec.PersistentKeepalive
		pc.PersistentKeepalive = &ka
		psk := w.psk
		pc.PresharedKey = &psk
		return pc, true
	}
	changed := false
	if !slices.Equal(old.allowed, w.allowed) {
		pc.ReplaceAllowedIPs = true
		for _, p := range w.allowed {
			pc.AllowedIPs = append(pc.AllowedIPs, core.AllowedIPChange{Prefix: p})
		}
		changed = true
	}
	if w.endpoint != old.endpoint && w.endpoint.IsValid() {
		ep := w.endpoint
		pc.Endpoint = &ep
		changed = true
	}
	if w.rec.PersistentKeepalive != old.rec.PersistentKeepalive {
		ka := w.rec.PersistentKeepalive
		pc.PersistentKeepalive = &ka
		changed = true
	}
	if !w.psk.Equal(old.psk) {
		psk := w.psk
		pc.PresharedKey = &psk
		changed = true
	}
	if !changed && !old.rec.Equal(&w.rec) {
		// Only the name changed: nothing for the tunnel, but remember it.
		old.rec = w.rec.Clone()
	}
	pc.UpdateOnly = true
	return pc, changed
}

// record notes a change the tunnel accepted.
func (b *peerBook) record(pc *core.PeerConfig, accepted map[core.PublicKey]*wanted) {
	k := pc.PublicKey
	if pc.Remove {
		if op := b.owned[k]; op != nil {
			b.hold(k, op.allowed, nil)
		}
		delete(b.owned, k)
		b.log.Info("Discovered peer removed", "peer", k.String())
		return
	}
	w := accepted[k]
	op := b.owned[k]
	if op == nil {
		b.seq++
		op = &ownedPeer{seq: b.seq}
		b.owned[k] = op
		b.log.Info("Discovered peer added", "peer", k.String(), "name", w.rec.Name,
			"endpoint", w.endpoint.String(), "allowed_ips", fmt.Sprint(w.allowed))
	} else {
		b.log.Info("Discovered peer updated", "peer", k.String(), "name", w.rec.Name,
			"endpoint", w.endpoint.String(), "allowed_ips", fmt.Sprint(w.allowed))
	}
	b.hold(k, op.allowed, w.allowed)
	op.rec = w.rec.Clone()
	op.allowed = w.allowed
	op.psk = w.psk
	if w.endpoint.IsValid() {
		op.endpoint = w.endpoint
	}
}

// normalize masks, sorts and deduplicates prefixes.
func normalize(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}
