// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// Defaults for the zero values of DiscoveryOptions.
const (
	// DefaultSelfInterval is the look at the tunnel and the announcement
	// for a tunnel that cannot say when it changed.
	DefaultSelfInterval = 500 * time.Millisecond
	// DefaultRefreshInterval is the slow pass for a tunnel that says when
	// it changed (core.Tunnel): it only catches what the tunnel cannot
	// report, an AnnounceFunc that follows the host's addresses.
	DefaultRefreshInterval = 30 * time.Second
	// DefaultReresolveInterval is how often the host names in discovered
	// peers' endpoints are looked up again.
	DefaultReresolveInterval = 30 * time.Second
	// announceCheck is how often the announcement alone is looked at (an
	// address set on the interface after the daemon started, say); the
	// rest of a pass follows only if it changed.
	announceCheck = time.Second
	// revocationCheck is how often changed revocation lists are looked
	// for (a file stat, rate-limited by the loader).
	revocationCheck = time.Second
	// DefaultWatchRetry is the first wait before watching again after a
	// stream broke while the plugin kept running. It doubles, up to
	// maxWatchRetry, while streams keep breaking before their snapshot
	// came (a plugin that never finishes its snapshot, one whose
	// snapshots are refused).
	DefaultWatchRetry    = time.Second
	maxWatchRetry        = time.Minute
	defaultPublishLogGap = 10 * time.Second

	// DefaultFirstPublishWait is the longest this node's first record
	// waits for the plugin's first snapshot to be applied. Past it,
	// publishing costs at most one handshake retry (REKEY_TIMEOUT, 5 s)
	// to the nodes that initiate before this one knows them; waiting
	// longer would cost more than it saves.
	DefaultFirstPublishWait = 5 * time.Second
)

// DiscoveryTunnel is the part of core.Tunnel that discovery drives: the
// configuration API and nothing else.
type DiscoveryTunnel interface {
	Apply(core.Config) error
	Snapshot() core.Snapshot
}

var _ DiscoveryTunnel = (*core.Tunnel)(nil)

// Announcement is what this node publishes besides its public key, which
// comes from the tunnel (so that a key set later through wg(8), or by a
// key vault, is announced as soon as it is there).
type Announcement struct {
	// Name labels the node in the registry and in other nodes' logs.
	Name string
	// Endpoints are where other nodes reach this one: "host:port", or a
	// host or address alone ("192.0.2.1", "[2001:db8::1]"), completed
	// with the tunnel's listen port once it has one.
	Endpoints []string
	// AllowedIPs are the prefixes this node announces as its own (its
	// tunnel address, a subnet behind it). Records of other nodes that
	// overlap them are refused.
	AllowedIPs []netip.Prefix
	// PersistentKeepalive is the interval other nodes should use towards
	// this one (seconds, 0 = off).
	PersistentKeepalive uint16
	// PSKRef names the pre-shared key other nodes should use with this
	// one; each reads it from its own PSK directory.
	PSKRef string
}

// DiscoveryOptions configures the daemon's side of a discovery plugin.
type DiscoveryOptions struct {
	// Tunnel receives the discovered peers (required).
	Tunnel DiscoveryTunnel
	// Announce is this node's record, minus the key.
	Announce Announcement
	// AnnounceFunc, if set, replaces Announce: it is called at every
	// SelfInterval, so that what the node announces can follow the host
	// (the addresses of its interfaces, say). Results that fail
	// CheckAnnouncement are logged and not published.
	AnnounceFunc func() Announcement
	// PSKDir is where records' PSK references are looked up; records that
	// name a PSK are refused without it.
	PSKDir string
	// Resolve turns a record's host:port endpoint into an address; nil
	// uses the system resolver.
	Resolve func(ctx context.Context, endpoint string) (netip.AddrPort, error)
	// SelfInterval is how often the announcement and the tunnel are
	// looked at for something to publish or reconcile. A tunnel that
	// reports its changes (core.Tunnel's Generation and Changed) is
	// followed as it changes and this is only a slow pass
	// (DefaultRefreshInterval); otherwise it is polled
	// (DefaultSelfInterval).
	SelfInterval time.Duration
	// ReresolveInterval is how often the endpoints of discovered peers
	// that were announced as host names are looked up again
	// (DefaultReresolveInterval if zero).
	ReresolveInterval time.Duration
	// WatchRetry is the first wait before watching again after a stream
	// broke while the plugin kept running (DefaultWatchRetry if zero).
	WatchRetry time.Duration
	// FirstPublishWait is the longest this node's first record waits
	// for the plugin's first snapshot to be applied to the tunnel
	// (DefaultFirstPublishWait if zero).
	FirstPublishWait time.Duration
	// Limits bound what one stream may make the daemon hold: the records
	// and prefixes of a snapshot (and of the registry view), its size,
	// the time its chunks may take, and the size of one record. Zero
	// fields take sdk's defaults. Refusals are counted in Metrics by
	// reason.
	Limits sdk.WatchLimits
	// Trust is what records must satisfy before they become peers.
	Trust TrustPolicy
	// Identity, when set, signs this node's record.
	Identity *FleetIdentity
	// Metrics counts refusals and restorations; nil for none.
	Metrics *DiscoveryMetrics
	// OnManaged, if set, is told the keys of the peers discovery manages
	// after they change, so that what saves the configuration can leave
	// them out. It runs on a goroutine of its own, without discovery's
	// lock; changes that come while it runs are told in one later call,
	// so that a burst of record events costs one call, not one each.
	OnManaged func([]core.PublicKey)
}

// CheckAnnouncement reports whether a's endpoints and PSK reference are
// well formed.
func CheckAnnouncement(a Announcement) error {
	for _, e := range a.Endpoints {
		if err := sdk.CheckEndpoint(e); err == nil {
			continue
		}
		if err := sdk.CheckEndpoint(net.JoinHostPort(strings.Trim(e, "[]"), "1")); err != nil {
			return fmt.Errorf("announced endpoint %q: not host, address or host:port", e)
		}
	}
	for _, p := range a.AllowedIPs {
		if !p.IsValid() {
			return errors.New("announced allowed IP is invalid")
		}
	}
	if a.PSKRef != "" && !sdk.ValidPSKRef(a.PSKRef) {
		return fmt.Errorf("announced PSK reference %q is not a plain file name", a.PSKRef)
	}
	return nil
}

// Discovery runs a discovery plugin for a tunnel: it publishes this node's
// record, and applies the registry's records as peers through the
// tunnel's configuration API.
//
// Peers configured by hand are never changed or removed. When the plugin
// dies, its peers stay as they are; once it is back, its first snapshot
// decides, and only the peers missing from the registry then are removed.
type Discovery struct {
	p    *Plugin
	call func(method string, fn func(ctx context.Context, impl any) error) error
	log  *slog.Logger
	opts DiscoveryOptions
	book *peerBook

	mu           sync.Mutex
	impl         sdk.Discovery // the current plugin instance's client
	gen          uint64        // bumped at each (re)start
	cancelStream context.CancelFunc
	published    *sdk.Record // last record the plugin accepted
	publishedGen uint64
	// prevPublished is the record before published: the registry may
	// still report it for a moment after a change.
	prevPublished *sdk.Record
	lastKey       core.PublicKey
	lastAnnErr    string
	started       chan struct{} // signalled at each (re)start
	wake          chan struct{} // publish again now (own record altered)
	managed       chan struct{} // the owned peers changed (nil without OnManaged)
	signer        *selfSigner   // nil without a fleet identity
	metrics       *DiscoveryMetrics
	limits        sdk.WatchLimits // with defaults
	queue         *eventQueue     // stream events waiting for the book
	// firstSync is closed once the plugin's first snapshot has been
	// applied to the tunnel, or FirstPublishWait after the start if none
	// was by then; this node's record is not published before (see
	// mayPublish).
	firstSync     chan struct{}
	firstSyncOnce sync.Once

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartDiscovery launches a discovery plugin (cfg.Kind and cfg.OnStart are
// set here) and starts applying what it reports.
func StartDiscovery(cfg Config, opts DiscoveryOptions) (*Discovery, error) {
	cfg.Kind = sdk.KindDiscovery
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	// go-plugin lets a plugin's message be up to 2 GiB. A discovery
	// plugin's largest is a snapshot sent whole (a plugin from before
	// chunks), which may be as large as the limits let a snapshot be.
	cfg.GRPCDialOptions = append(slices.Clone(cfg.GRPCDialOptions),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(opts.Limits.WithDefaults().MaxSnapshotBytes)))
	d, err := newDiscovery(cfg.Logger.With("plugin", cfg.Name, "kind", cfg.Kind), opts)
	if err != nil {
		return nil, err
	}
	cfg.OnStart = d.onStart
	p, err := Start(cfg)
	if err != nil {
		d.cancel()
		return nil, err
	}
	d.p, d.call = p, p.Call
	d.run()
	return d, nil
}

// newDiscovery prepares a Discovery; the plugin is attached by the
// caller (onStart for each instance, call for calls through the
// supervisor) before run.
func newDiscovery(log *slog.Logger, opts DiscoveryOptions) (*Discovery, error) {
	if opts.Tunnel == nil {
		return nil, errors.New("discovery: no tunnel")
	}
	if opts.AnnounceFunc == nil {
		if err := CheckAnnouncement(opts.Announce); err != nil {
			return nil, fmt.Errorf("discovery: %w", err)
		}
		ann := opts.Announce
		opts.AnnounceFunc = func() Announcement { return ann }
	}
	if opts.SelfInterval <= 0 {
		opts.SelfInterval = DefaultSelfInterval
		if _, ok := opts.Tunnel.(generationSource); ok {
			opts.SelfInterval = DefaultRefreshInterval
		}
	}
	if opts.ReresolveInterval <= 0 {
		opts.ReresolveInterval = DefaultReresolveInterval
	}
	if opts.WatchRetry <= 0 {
		opts.WatchRetry = DefaultWatchRetry
	}
	if opts.FirstPublishWait <= 0 {
		opts.FirstPublishWait = DefaultFirstPublishWait
	}
	opts.Limits = opts.Limits.WithDefaults()
	d := &Discovery{
		limits:  opts.Limits,
		queue:   newEventQueue(opts.Limits),
		log:     log,
		opts:    opts,
		book:    newPeerBook(log, opts.Tunnel, nil, opts.PSKDir, opts.Resolve),
		started: make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		metrics: opts.Metrics,
	}
	d.book.gate = newTrustGate(opts.Trust)
	d.firstSync = make(chan struct{})
	if opts.OnManaged != nil {
		d.managed = make(chan struct{}, 1)
		d.book.onOwned = func() {
			select {
			case d.managed <- struct{}{}:
			default:
			}
		}
	}
	d.book.metrics = opts.Metrics
	if opts.Identity != nil {
		if opts.Identity.Cert == nil || len(opts.Identity.Key) == 0 && opts.Identity.Sign == nil {
			return nil, errors.New("discovery: fleet identity without certificate or signer")
		}
		d.signer = &selfSigner{id: opts.Identity}
	}
	d.book.setSelf(d.announcement().AllowedIPs)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d, nil
}

// run starts the watch and self loops.
func (d *Discovery) run() {
	d.wg.Add(4)
	go d.applyLoop()
	go d.watchLoop()
	go d.selfLoop()
	go d.resolveLoop()
	if d.managed != nil {
		d.wg.Add(1)
		go d.managedLoop()
	}
}

// Plugin is the supervised plugin behind the discovery.
func (d *Discovery) Plugin() *Plugin { return d.p }

// Managed lists the peers discovery has put in the tunnel.
func (d *Discovery) Managed() []core.PublicKey { return d.book.ownedKeys() }

// Close stops the plugin. Discovered peers stay in the tunnel.
func (d *Discovery) Close() error {
	d.cancel()
	var err error
	if d.p != nil {
		err = d.p.Close()
	}
	d.wg.Wait()
	return err
}

// onStart runs at every launch of the plugin: it makes the new instance
// the one to watch, and publishes this node's record to it at once,
// unless the record is still held back for the first snapshot: then the
// self loop publishes it when that is applied.
func (d *Discovery) onStart(ctx context.Context, impl any) error {
	v, ok := impl.(sdk.Discovery)
	if !ok {
		return fmt.Errorf("plugin dispensed %T, not a discovery plugin", impl)
	}
	held := !d.mayPublish()
	var self sdk.Record
	publish := false
	if !held {
		pub, port := d.identity()
		self, publish = d.selfRecord(d.announcement(), pub, port)
	}
	if publish {
		if err := v.Publish(ctx, self); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	d.mu.Lock()
	d.impl = v
	d.gen++
	if publish {
		d.setPublished(&self, d.gen)
	}
	// A restart while the record is held back: the self loop may be
	// publishing to the previous instance as the hold ends; one more
	// pass, after the new generation, publishes to this one.
	again := held && d.gen > 1
	if d.cancelStream != nil {
		d.cancelStream() // a stream to the previous instance is dead anyway
	}
	d.mu.Unlock()
	select {
	case d.started <- struct{}{}:
	default:
	}
	if again {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// mayPublish reports whether this node's record may be published. The
// first publish waits until the plugin's first snapshot has been applied
// to the tunnel: other nodes initiate handshakes as soon as they see the
// record, and a node that does not yet have their keys drops those
// initiations, as any WireGuard responder does, so the first handshake
// would come only with their retry, REKEY_TIMEOUT (5 s) later. Once
// open it stays open: a restarted plugin or a new stream (each with a
// snapshot of its own) neither withdraws nor delays the record.
func (d *Discovery) mayPublish() bool {
	select {
	case <-d.firstSync:
		return true
	default:
		return false
	}
}

// openFirstPublish lets this node's record be published; it reports
// whether this call was the one that did.
func (d *Discovery) openFirstPublish() bool {
	opened := false
	d.firstSyncOnce.Do(func() {
		close(d.firstSync)
		opened = true
	})
	return opened
}

// watchLoop keeps a Watch stream open to the current plugin instance.
func (d *Discovery) watchLoop() {
	defer d.wg.Done()
	var wait <-chan time.Time
	var warned uint64 // the instance whose broken stream was logged
	retry := d.opts.WatchRetry
	for {
		if wait != nil {
			select {
			case <-d.ctx.Done():
				return
			case <-d.started:
			case <-wait:
			}
		}
		d.mu.Lock()
		impl, gen := d.impl, d.gen
		ctx, cancel := context.WithCancel(d.ctx)
		d.cancelStream = cancel
		d.mu.Unlock()
		// Drop a start signal for the instance about to be watched.
		select {
		case <-d.started:
		default:
		}
		sink := &bookSink{d: d, gen: gen, q: d.queue}
		err := impl.Watch(ctx, sink)
		cancel()
		if d.ctx.Err() != nil {
			return
		}
		if reason := sdk.Refusal(err); reason != "" {
			// A snapshot past the limits, one never finished: nothing
			// of it was applied; what the book had stays.
			d.refused(reason, "Discovery stream refused; the state before it is kept", "err", err)
		}
		d.mu.Lock()
		restarted := d.gen != gen
		d.mu.Unlock()
		if restarted {
			wait, retry = nil, d.opts.WatchRetry
			continue
		}
		if sink.synced {
			retry = d.opts.WatchRetry
		}
		if warned != gen {
			warned = gen
			d.log.Warn("Discovery stream ended; discovered peers stay until the plugin has resynchronised", "err", err, "retry_in", retry)
		} else {
			d.log.Debug("Discovery stream ended again", "err", err, "retry_in", retry)
		}
		wait = time.After(retry)
		if !sink.synced {
			retry = min(2*retry, max(maxWatchRetry, d.opts.WatchRetry))
		}
	}
}

// bookSink feeds one stream into the book, through the event queue (or
// at once without one: tests of the book). Updates before the stream's
// first snapshot break the protocol and are dropped. Records are checked
// against the watch limits here too, for a plugin that runs in process
// and so skips the SDK's checks.
type bookSink struct {
	d      *Discovery
	gen    uint64
	q      *eventQueue // nil: apply at once
	synced bool
}

var (
	_ sdk.WatchLimiter          = (*bookSink)(nil)
	_ sdk.InvalidRecordReporter = (*bookSink)(nil)
)

// WatchLimits are the limits the SDK enforces on the stream.
func (s *bookSink) WatchLimits() sdk.WatchLimits { return s.d.limits }

// checkRecord is Record.Check and the per-record limits.
func (s *bookSink) checkRecord(r *sdk.Record) error {
	if err := s.d.limits.CheckRecord(r); err != nil {
		return err
	}
	return r.Check()
}

// Snapshot replaces the registry view; it marks the stream synchronised.
// A snapshot past the limits ends the stream and leaves the view as it
// was.
func (s *bookSink) Snapshot(recs []sdk.Record) error {
	if len(recs) > s.d.limits.MaxSnapshotRecords {
		return &sdk.LimitError{Reason: sdk.RefusedSnapshotRecords,
			Msg: fmt.Sprintf("snapshot of %d records, at most %d", len(recs), s.d.limits.MaxSnapshotRecords)}
	}
	good := recs[:0:0]
	prefixes := 0
	for i := range recs {
		if err := s.checkRecord(&recs[i]); err != nil {
			s.InvalidRecord(err)
			continue
		}
		prefixes += len(recs[i].AllowedIPs)
		good = append(good, recs[i])
	}
	if prefixes > s.d.limits.MaxSnapshotPrefixes {
		return &sdk.LimitError{Reason: sdk.RefusedSnapshotPrefixes,
			Msg: fmt.Sprintf("snapshot of %d allowed IPs, at most %d", prefixes, s.d.limits.MaxSnapshotPrefixes)}
	}
	if !s.synced {
		s.d.log.Info("Discovery synchronised", "records", len(good))
	} else {
		s.d.log.Info("Discovery resynchronised", "records", len(good))
	}
	s.synced = true
	for i := range good {
		s.d.selfEvent(good[i].PublicKey, &good[i])
	}
	if s.q != nil {
		s.q.putSnapshot(good)
		return nil
	}
	s.d.book.snapshot(good)
	s.d.openFirstPublish()
	return nil
}

// Upsert applies one added or changed record.
func (s *bookSink) Upsert(r sdk.Record) error {
	if !s.synced {
		s.d.log.Warn("Discovery update before the first snapshot ignored", "peer", core.PublicKey(r.PublicKey).String())
		return nil
	}
	if err := s.checkRecord(&r); err != nil {
		s.InvalidRecord(err)
		return nil
	}
	s.d.selfEvent(r.PublicKey, &r)
	if s.q != nil {
		return s.q.put(core.PublicKey(r.PublicKey), queuedEvent{rec: r})
	}
	s.d.applyEvent(&queuedEvent{rec: r})
	return nil
}

// Remove drops one record.
func (s *bookSink) Remove(k sdk.Key) error {
	if !s.synced {
		s.d.log.Warn("Discovery removal before the first snapshot ignored", "peer", core.PublicKey(k).String())
		return nil
	}
	s.d.selfEvent(k, nil)
	if s.q != nil {
		return s.q.put(core.PublicKey(k), queuedEvent{rec: sdk.Record{PublicKey: k}, remove: true})
	}
	s.d.applyEvent(&queuedEvent{rec: sdk.Record{PublicKey: k}, remove: true})
	return nil
}

// InvalidRecord counts and logs (rate-limited) a record the plugin sent
// that failed the checks.
func (s *bookSink) InvalidRecord(err error) {
	reason := sdk.Refusal(err)
	if reason == "" {
		reason = sdk.RefusedMalformed
	}
	s.d.refused(reason, "Discovery plugin sent a record that fails the checks; skipped", "err", err)
}

// selfLoop publishes this node's record whenever it changes (a key set
// through wg(8), a listen port chosen on up) and reconciles when the
// interface's key changes or someone else changed the tunnel. With a
// tunnel that reports its changes it sleeps until one comes, a hold or
// certificate runs out, or the slow pass is due.
func (d *Discovery) selfLoop() {
	defer d.wg.Done()
	src, _ := d.opts.Tunnel.(generationSource)
	slow := time.NewTicker(d.opts.SelfInterval)
	defer slow.Stop()
	var announce <-chan time.Time
	if src != nil {
		at := time.NewTicker(announceCheck)
		defer at.Stop()
		announce = at.C
	}
	var revocations <-chan time.Time
	if src != nil && d.opts.Trust.Revocations != nil {
		rt := time.NewTicker(revocationCheck)
		defer rt.Stop()
		revocations = rt.C
	}
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	// The first record waits for the plugin's first snapshot to be
	// applied (mayPublish), but not forever: a registry that never
	// completes a snapshot must not keep this node unannounced.
	first := d.firstSync
	firstCap := time.NewTimer(d.opts.FirstPublishWait)
	defer firstCap.Stop()
	capped := firstCap.C
	var seen uint64 // the tunnel generation last looked at
	var lastErr time.Time
	// The announcement may walk the host's interfaces: it is taken again
	// once a second and when the record must be published again, not at
	// every change of the tunnel.
	var ann Announcement
	fresh := false
	for {
		var changed <-chan struct{}
		if src != nil {
			changed = src.Changed(seen)
		}
		select {
		case <-d.ctx.Done():
			return
		case <-slow.C:
			fresh = false
		case <-d.wake:
			fresh = false
		case <-first:
			first, capped = nil, nil
		case <-capped:
			first, capped = nil, nil
			if d.openFirstPublish() {
				d.log.Warn("No snapshot from the discovery plugin yet; publishing this node's record without it",
					"waited", d.opts.FirstPublishWait)
			}
		case <-changed:
		case <-announce:
			if a := d.announcement(); !sameAnnouncement(a, ann) {
				ann = a
				break
			}
			continue
		case <-revocations:
			if d.book.expiryDue(time.Now()) {
				d.book.refresh()
			}
			continue
		case <-due.C:
		}
		if src != nil {
			seen = src.Generation()
		}
		looked := !fresh || src == nil
		if looked {
			ann, fresh = d.announcement(), true
		}
		pub, port := d.identity()
		if !looked && !pub.IsZero() && pub != d.currentKey() {
			// A new key is published at once, so look again: addresses
			// set just before it (an interface brought up) may be newer
			// than the last look, which would otherwise wait for the
			// next announcement check.
			ann = d.announcement()
		}
		self, ok := d.selfRecord(ann, pub, port)
		selfChanged := d.book.setSelf(self.AllowedIPs)
		d.mu.Lock()
		keyChanged := ok && core.PublicKey(self.PublicKey) != d.lastKey
		if keyChanged {
			d.lastKey = core.PublicKey(self.PublicKey)
		}
		need := ok && (d.published == nil || d.publishedGen != d.gen || !d.published.Equal(&self))
		gen := d.gen
		d.mu.Unlock()
		// A wg setconf, say, may have removed discovered peers; they
		// come back while the registry has them.
		switch {
		case keyChanged || selfChanged || d.book.expiryDue(time.Now()):
			d.book.refresh()
		case src != nil:
			d.book.tunnelChanged()
		case d.book.lost(d.opts.Tunnel.Snapshot()):
			d.book.refresh()
		}
		if t := d.book.nextDeadline(); !t.IsZero() {
			due.Reset(time.Until(t) + 10*time.Millisecond)
		}
		if !need || !d.mayPublish() {
			continue
		}
		err := d.call("Publish", func(ctx context.Context, impl any) error {
			return impl.(sdk.Discovery).Publish(ctx, self)
		})
		if err != nil {
			if time.Since(lastErr) > defaultPublishLogGap {
				lastErr = time.Now()
				d.log.Warn("Publishing this node's record failed; retrying", "err", err)
			}
			continue
		}
		d.mu.Lock()
		if d.gen == gen {
			d.setPublished(&self, gen)
		}
		d.mu.Unlock()
		d.log.Info("Published this node's record", "public_key", core.PublicKey(self.PublicKey).String(),
			"endpoints", strings.Join(self.Endpoints, ","), "allowed_ips", fmt.Sprint(self.AllowedIPs))
	}
}

// selfRecord is this node's record as it stands, false while the
// interface has no key.
func (d *Discovery) selfRecord(a Announcement, pub core.PublicKey, port uint16) (sdk.Record, bool) {
	if pub.IsZero() {
		return sdk.Record{AllowedIPs: a.AllowedIPs}, false
	}
	r := sdk.Record{
		PublicKey:           sdk.Key(pub),
		Name:                a.Name,
		AllowedIPs:          append([]netip.Prefix(nil), a.AllowedIPs...),
		PersistentKeepalive: a.PersistentKeepalive,
		PSKRef:              a.PSKRef,
	}
	for _, e := range a.Endpoints {
		if sdk.CheckEndpoint(e) == nil {
			r.Endpoints = append(r.Endpoints, e)
		} else if port != 0 {
			r.Endpoints = append(r.Endpoints, net.JoinHostPort(strings.Trim(e, "[]"), strconv.Itoa(int(port))))
		}
	}
	if len(r.Endpoints) > sdk.MaxRecordEndpoints {
		r.Endpoints = r.Endpoints[:sdk.MaxRecordEndpoints]
	}
	if d.signer != nil {
		if msg := d.signer.sign(&r); d.signer.problem(msg) {
			d.log.Error("This node's fleet record: "+msg, "public_key", pub.String())
		}
	}
	return r, true
}

// sameAnnouncement reports whether a and b announce the same.
func sameAnnouncement(a, b Announcement) bool {
	return a.Name == b.Name && a.PersistentKeepalive == b.PersistentKeepalive && a.PSKRef == b.PSKRef &&
		slices.Equal(a.Endpoints, b.Endpoints) && slices.Equal(a.AllowedIPs, b.AllowedIPs)
}

// setPublished notes the record the plugin accepted. d.mu is held.
func (d *Discovery) setPublished(r *sdk.Record, gen uint64) {
	if d.published != nil && !d.published.Equal(r) {
		d.prevPublished = d.published
	}
	d.published, d.publishedGen = r, gen
}

// announcement is what this node announces now; an announcement that
// fails the checks is logged (once) and replaced by an empty one.
func (d *Discovery) announcement() Announcement {
	a := d.opts.AnnounceFunc()
	err := CheckAnnouncement(a)
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	d.mu.Lock()
	changed := msg != d.lastAnnErr
	d.lastAnnErr = msg
	d.mu.Unlock()
	if err != nil {
		if changed {
			d.log.Error("This node's announcement is invalid; announcing nothing", "err", err)
		}
		return Announcement{}
	}
	return a
}
