// SPDX-License-Identifier: MIT

package plugins

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
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
// or removed. Every event leads to a full reconciliation: the accepted set
// is computed from all records, then the difference with what discovery
// put in the tunnel is applied as one change set.
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

	gate    *trustGate             // nil: no trust policy (tests of the book alone)
	onOwned func([]core.PublicKey) // told the owned keys after each change; may be nil
	metrics *DiscoveryMetrics      // nil: not counted
	logs    logLimiter

	mu         sync.Mutex
	records    map[core.PublicKey]sdk.Record // the registry as last reported
	owned      map[core.PublicKey]*ownedPeer // peers discovery put in the tunnel
	refused    map[core.PublicKey]string     // why a record is not applied
	gateRefuse map[core.PublicKey]string     // last trust refusal per key: reason and record fingerprint
	held       map[netip.Prefix]heldPrefix   // prefixes a discovered peer gave up lately
	seq        uint64
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
	}
}

// snapshot replaces the registry view and reconciles: discovery's peers
// that are no longer in the registry go, everything else stays.
func (b *peerBook) snapshot(recs []sdk.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records = make(map[core.PublicKey]sdk.Record, len(recs))
	for _, r := range recs {
		b.records[core.PublicKey(r.PublicKey)] = r
	}
	b.reconcile()
}

func (b *peerBook) upsert(r sdk.Record) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.records[core.PublicKey(r.PublicKey)] = r
	b.reconcile()
}

func (b *peerBook) remove(k sdk.Key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.records, core.PublicKey(k))
	b.reconcile()
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
func (b *peerBook) refresh() {
	b.mu.Lock()
	defer b.mu.Unlock()
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

// claim is a prefix already taken, and by whom (for the log).
type claim struct {
	prefix netip.Prefix
	owner  string
	holder core.PublicKey // for a held prefix: the key that may take it back
}

// wanted is a record accepted for the tunnel, with what it resolves to.
type wanted struct {
	rec      sdk.Record
	allowed  []netip.Prefix
	endpoint netip.AddrPort
	psk      core.PresharedKey
}

// reconcile brings the tunnel in line with the records. b.mu is held.
func (b *peerBook) reconcile() {
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
	claims := make([]claim, 0, len(b.self)+len(snap.Peers))
	for _, p := range b.self {
		claims = append(claims, claim{prefix: p, owner: "this node"})
	}
	manual := make(map[core.PublicKey]bool)
	for i := range snap.Peers {
		p := &snap.Peers[i]
		if b.owned[p.PublicKey] != nil {
			continue
		}
		manual[p.PublicKey] = true
		for _, a := range p.AllowedIPs {
			claims = append(claims, claim{prefix: a.Masked(), owner: "hand-configured peer " + p.PublicKey.String()})
		}
	}
	claims = b.heldClaims(claims)

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
	for _, k := range order {
		r := b.records[k]
		if k == snap.PublicKey {
			delete(b.refused, k)
			continue // our own record, reflected back by the registry
		}
		if b.gate != nil && !manual[k] {
			res := b.gate.check(k, &r)
			b.noteGate(k, &r, res)
			if res.use == nil {
				continue
			}
			r = *res.use
		}
		w, label, reason := b.accept(k, &r, manual[k], claims)
		if reason != "" {
			if b.refused[k] != reason {
				b.refused[k] = reason
				lvl := slog.LevelWarn
				if manual[k] {
					lvl = slog.LevelInfo
				}
				b.metrics.reject(label)
				b.logs.log(b.log, lvl, "Discovery record refused", "peer", k.String(), "name", r.Name, "reason", label, "detail", reason)
			}
			continue
		}
		if _, was := b.refused[k]; was {
			delete(b.refused, k)
			b.log.Info("Discovery record accepted after an earlier refusal", "peer", k.String(), "name", r.Name)
		}
		accepted[k] = w
		for _, p := range w.allowed {
			claims = append(claims, claim{prefix: p, owner: "discovered peer " + k.String()})
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
	b.apply(accepted)
}

// accept checks one record against what is already claimed and resolves
// its endpoint and PSK; it returns why not if the record cannot be used.
func (b *peerBook) accept(k core.PublicKey, r *sdk.Record, manual bool, claims []claim) (*wanted, string, string) {
	if manual {
		return nil, reasonHandConfigured, "a peer with this key is configured by hand; discovery leaves it alone"
	}
	w := &wanted{rec: *r, allowed: normalize(r.AllowedIPs)}
	for _, p := range w.allowed {
		for _, c := range claims {
			if c.prefix.Overlaps(p) && c.holder != k {
				return nil, reasonOverlap, fmt.Sprintf("allowed IP %s overlaps %s of %s", p, c.prefix, c.owner)
			}
		}
	}
	if r.PSKRef != "" {
		if b.pskDir == "" {
			return nil, reasonPSK, fmt.Sprintf("names pre-shared key %q but the daemon has no PSK directory", r.PSKRef)
		}
		key, err := config.ReadKeyFile(filepath.Join(b.pskDir, r.PSKRef))
		if err != nil {
			return nil, reasonPSK, fmt.Sprintf("pre-shared key %q: %v", r.PSKRef, err)
		}
		w.psk = core.PresharedKey(key)
	}
	old := b.owned[k]
	if old != nil && slices.Equal(old.rec.Endpoints, r.Endpoints) {
		// Unchanged announcement: keep what was resolved, and do not undo
		// roaming by setting it again.
		w.endpoint = old.endpoint
		return w, "", ""
	}
	var errs []string
	for _, e := range r.Endpoints {
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		ap, err := b.resolve(ctx, e)
		cancel()
		if err == nil && ap.IsValid() && ap.Port() != 0 {
			w.endpoint = ap
			break
		}
		errs = append(errs, fmt.Sprintf("%s: %v", e, err))
	}
	if !w.endpoint.IsValid() && len(r.Endpoints) > 0 {
		// Still usable: the node can reach us and roaming fills the
		// endpoint in.
		b.log.Warn("Discovered peer has no usable endpoint", "peer", k.String(), "errors", strings.Join(errs, "; "))
	}
	return w, "", ""
}

// apply turns the difference between the accepted records and the owned
// peers into one change set. If the tunnel refuses it, each change is
// tried alone so that one bad record cannot hold up the others.
func (b *peerBook) apply(accepted map[core.PublicKey]*wanted) {
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
		return
	}
	if b.onOwned != nil {
		defer func() { b.onOwned(b.sortedOwned()) }()
	}
	// Removals first frees their prefixes before additions claim them.
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].Remove && !changes[j].Remove })
	err := b.tun.Apply(core.Config{Peers: changes})
	if err == nil {
		for i := range changes {
			b.record(&changes[i], accepted)
		}
		return
	}
	b.log.Warn("Discovery change set refused by the tunnel; applying peer by peer", "err", err)
	for i := range changes {
		if err := b.tun.Apply(core.Config{Peers: changes[i : i+1]}); err != nil {
			b.log.Error("Discovery could not apply a peer", "peer", changes[i].PublicKey.String(), "err", err)
			continue
		}
		b.record(&changes[i], accepted)
	}
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
