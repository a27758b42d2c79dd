// SPDX-License-Identifier: MIT

package plugins

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// Refusal reasons of the daemon's own bounds on the registry view, next
// to the SDK's (sdk.RefusalReasons).
const (
	// reasonOverflow: more keys (or prefixes) waited to be applied than
	// the limits allow; the stream is ended and the next snapshot brings
	// the daemon up to date.
	reasonOverflow = "updates_overflow"
	// reasonTooManyRecords: an update would have taken the registry view
	// past WatchLimits.MaxSnapshotRecords.
	reasonTooManyRecords = "registry_too_many_records"
	// reasonTooManyPrefixes: an update would have taken the registry
	// view past WatchLimits.MaxSnapshotPrefixes.
	reasonTooManyPrefixes = "registry_too_many_prefixes"
)

// eventQueue stands between a discovery stream and the peer book, so that
// the stream never waits for the book (which may be resolving a host
// name or applying a large change set) and the book's work is bounded by
// what it can do, not by what the registry sends: the updates of one key
// that come while the book is busy collapse into the latest, a snapshot
// drops every update queued before it, and the keys waiting are bounded
// by the watch limits.
type eventQueue struct {
	wake chan struct{} // one token: something is queued

	mu       sync.Mutex
	snap     []sdk.Record
	hasSnap  bool
	pending  map[core.PublicKey]queuedEvent
	order    []core.PublicKey // pending's keys, in the order first queued
	prefixes int              // allowed IPs of the pending upserts
	maxKeys  int
	maxPfx   int
	// busy is true from a take until the taker reports done: with empty
	// queues it tells whether the book is up to date (idle).
	busy    bool
	idleCh  chan struct{} // closed when idle; nil while not waited on
	dropped uint64        // updates superseded before they were applied
	peak    int           // the most keys that waited at once
}

// queuedEvent is the latest update of one key: a record, or its removal.
type queuedEvent struct {
	rec    sdk.Record
	remove bool
}

func newEventQueue(lim sdk.WatchLimits) *eventQueue {
	return &eventQueue{
		wake:    make(chan struct{}, 1),
		pending: make(map[core.PublicKey]queuedEvent),
		maxKeys: lim.MaxSnapshotRecords,
		maxPfx:  lim.MaxSnapshotPrefixes,
	}
}

func (q *eventQueue) notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// putSnapshot queues a snapshot; updates queued before it are moot.
func (q *eventQueue) putSnapshot(recs []sdk.Record) {
	q.mu.Lock()
	q.dropped += uint64(len(q.pending))
	q.snap, q.hasSnap = recs, true
	q.reset()
	q.mu.Unlock()
	q.notify()
}

// put queues the update of key k, replacing one queued earlier. It
// fails, dropping everything queued, when the bound is reached: the
// caller ends the stream, and the snapshot of the next one supersedes
// what was dropped.
func (q *eventQueue) put(k core.PublicKey, ev queuedEvent) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	old, ok := q.pending[k]
	n := q.prefixes + len(ev.rec.AllowedIPs)
	if ok {
		n -= len(old.rec.AllowedIPs)
		q.dropped++
	}
	if !ok && len(q.pending) >= q.maxKeys || n > q.maxPfx {
		q.dropped += uint64(len(q.pending))
		q.reset()
		return &sdk.LimitError{Reason: reasonOverflow,
			Msg: fmt.Sprintf("more than %d keys or %d allowed IPs waiting to be applied", q.maxKeys, q.maxPfx)}
	}
	if !ok {
		q.order = append(q.order, k)
		q.peak = max(q.peak, len(q.order))
	}
	q.pending[k], q.prefixes = ev, n
	q.notify()
	return nil
}

// reset empties the pending updates. After a burst the map and the
// order list are made anew, so that what a flood made them grow to is
// given back. q.mu is held.
func (q *eventQueue) reset() {
	if len(q.order) > 1024 {
		q.pending, q.order = make(map[core.PublicKey]queuedEvent), nil
	} else {
		clear(q.pending)
		q.order = q.order[:0]
	}
	q.prefixes = 0
}

// take hands out what is queued: a snapshot (if one came) and the
// updates after it, in the order their keys were first queued.
func (q *eventQueue) take() ([]sdk.Record, bool, []queuedEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	snap, has := q.snap, q.hasSnap
	q.snap, q.hasSnap = nil, false
	var evs []queuedEvent
	if len(q.order) > 0 {
		evs = make([]queuedEvent, 0, len(q.order))
		for _, k := range q.order {
			evs = append(evs, q.pending[k])
		}
		q.reset()
	}
	q.busy = has || len(evs) > 0
	return snap, has, evs
}

// snapshotWaiting reports whether a snapshot came that supersedes the
// updates being applied.
func (q *eventQueue) snapshotWaiting() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.hasSnap
}

// done says that what take handed out is applied.
func (q *eventQueue) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.busy = false
	if !q.hasSnap && len(q.order) == 0 && q.idleCh != nil {
		close(q.idleCh)
		q.idleCh = nil
	}
}

// idle returns a channel closed once nothing is queued or being applied.
func (q *eventQueue) idle() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.busy && !q.hasSnap && len(q.order) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if q.idleCh == nil {
		q.idleCh = make(chan struct{})
	}
	return q.idleCh
}

// applyLoop applies what the streams queue, one batch at a time.
func (d *Discovery) applyLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.queue.wake:
		}
		snap, has, evs := d.queue.take()
		if has {
			d.book.snapshot(snap)
			// The snapshot's peers are in the tunnel: this node's
			// record may go out (mayPublish).
			d.openFirstPublish()
		}
		if len(evs) >= batchMin && len(evs)*batchShare >= d.book.size() {
			// Many keys changed at once (a flood, a fleet restarting):
			// one full pass and one change set of the tunnel cost less
			// than an Apply each.
			for _, r := range d.book.applyBatch(evs, d.limits) {
				d.refused(r.reason, "Discovery update refused", "peer", r.key.String())
			}
			evs = nil
		}
		for i := range evs {
			if d.ctx.Err() != nil || d.queue.snapshotWaiting() {
				break // a snapshot came: these updates are moot
			}
			d.applyEvent(&evs[i])
		}
		d.queue.done()
	}
}

// A batch of updates is applied in one full reconciliation, rather than
// record by record, when it has at least batchMin keys and at least one
// key in batchShare of the registry view: the pass costs about as much
// as batchShare single events would, and changes the tunnel once.
const (
	batchMin   = 64
	batchShare = 8
)

// applyEvent applies one update to the book. A record the book has
// already, unchanged, costs nothing more: a registry that sends the same
// record in a loop keeps the book busy with comparisons only.
func (d *Discovery) applyEvent(ev *queuedEvent) {
	if ev.remove {
		d.book.remove(ev.rec.PublicKey)
		return
	}
	switch reason := d.book.admit(&ev.rec, d.limits); reason {
	case "":
		d.book.upsert(ev.rec)
	case admitSame:
	default:
		d.refused(reason, "Discovery update refused", "peer", core.PublicKey(ev.rec.PublicKey).String())
	}
}

// refused counts a refusal and logs it, rate-limited.
func (d *Discovery) refused(reason, msg string, args ...any) {
	d.metrics.reject(reason)
	d.book.logs.log(d.log, slog.LevelWarn, msg, append(args, "reason", reason)...)
}

// size is the number of records in the registry view.
func (b *peerBook) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.records)
}

// batchRefusal is an update applyBatch refused, and why.
type batchRefusal struct {
	key    core.PublicKey
	reason string
}

// applyBatch applies many updates (one per key) to the registry view and
// reconciles once. Endpoints are resolved and PSKs read first, without
// the lock. It returns the updates refused for the limits.
func (b *peerBook) applyBatch(evs []queuedEvent, lim sdk.WatchLimits) []batchRefusal {
	// Records the book has already, unchanged, are dropped before
	// anything is looked up for them.
	b.mu.Lock()
	evs = slices.DeleteFunc(slices.Clone(evs), func(ev queuedEvent) bool {
		old, ok := b.records[core.PublicKey(ev.rec.PublicKey)]
		return !ev.remove && ok && old.Equal(&ev.rec)
	})
	b.mu.Unlock()
	prep := make(map[core.PublicKey]*prepared, len(evs))
	for i := range evs {
		if !evs[i].remove {
			prep[core.PublicKey(evs[i].rec.PublicKey)] = b.prepare(&evs[i].rec)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var refused []batchRefusal
	changed := false
	for i := range evs {
		r := &evs[i].rec
		k := core.PublicKey(r.PublicKey)
		old, had := b.records[k]
		if evs[i].remove {
			if had {
				b.prefixes -= len(old.AllowedIPs)
				delete(b.records, k)
				changed = true
			}
			continue
		}
		if reason := b.admitLocked(r, lim); reason != "" {
			if reason != admitSame {
				refused = append(refused, batchRefusal{k, reason})
			}
			clear(prep[k].psk[:])
			delete(prep, k)
			continue
		}
		b.prefixes += len(r.AllowedIPs) - len(old.AllowedIPs)
		b.records[k] = *r
		changed = true
	}
	if changed {
		b.setPrep(prep)
		b.reconcile()
	}
	return refused
}

// admitSame is admit's answer for a record the book has already.
const admitSame = "same"

// admit says whether the book takes r: "" if so, admitSame if it has
// it already, unchanged, or the reason it would take the registry view
// past the limits.
func (b *peerBook) admit(r *sdk.Record, lim sdk.WatchLimits) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.admitLocked(r, lim)
}

// admitLocked is admit with b.mu held.
func (b *peerBook) admitLocked(r *sdk.Record, lim sdk.WatchLimits) string {
	old, ok := b.records[core.PublicKey(r.PublicKey)]
	switch {
	case ok && old.Equal(r):
		return admitSame
	case !ok && len(b.records) >= lim.MaxSnapshotRecords:
		return reasonTooManyRecords
	case b.prefixes+len(r.AllowedIPs)-len(old.AllowedIPs) > lim.MaxSnapshotPrefixes:
		return reasonTooManyPrefixes
	}
	return ""
}

// stats are the updates superseded before they were applied and the most
// keys that waited at once.
func (q *eventQueue) stats() (dropped uint64, peak int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped, q.peak
}
