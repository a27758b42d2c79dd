// SPDX-License-Identifier: MIT

package sdk

import (
	"bytes"
	"context"
	"slices"
	"sync"
)

// maxQueuedEvents bounds what a slow watcher may fall behind by; past it
// the queue is dropped and the watcher gets a fresh snapshot instead.
const maxQueuedEvents = 4096

// RecordSet is a plugin's view of the registry, and a ready-made
// implementation of Discovery.Watch on top of it: the plugin's own code
// keeps the set current (Put, Delete, Replace) and every Watch call gets a
// snapshot followed by the changes. Replace makes every watcher receive a
// new snapshot, which is how a plugin resynchronises the daemon after it
// lost track of its registry. Records equal to the stored ones cause no
// event, so a plugin may Put what it reads on every scan. The zero value
// is ready to use; Watch waits until the first Replace.
type RecordSet struct {
	mu      sync.Mutex
	records map[Key]Record
	ready   bool
	watches map[*recordWatch]struct{}
}

// recordWatch is one Watch call's pending events.
type recordWatch struct {
	wake     chan struct{}
	events   []recordEvent
	snapshot bool
}

type recordEvent struct {
	remove bool
	rec    Record
}

// Replace sets the whole view; watchers get a snapshot.
func (s *RecordSet) Replace(records []Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = make(map[Key]Record, len(records))
	for _, r := range records {
		s.records[r.PublicKey] = r.Clone()
	}
	s.ready = true
	for w := range s.watches {
		w.events, w.snapshot = w.events[:0], true
		w.notify()
	}
}

// Put adds or replaces one record. It reports whether anything changed.
func (s *RecordSet) Put(r Record) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.records[r.PublicKey]; ok && old.Equal(&r) {
		return false
	}
	if s.records == nil {
		s.records = make(map[Key]Record)
	}
	r = r.Clone()
	s.records[r.PublicKey] = r
	s.queue(recordEvent{rec: r})
	return true
}

// Delete removes the record of key. It reports whether there was one.
func (s *RecordSet) Delete(key Key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.records[key]; !ok {
		return false
	}
	delete(s.records, key)
	s.queue(recordEvent{remove: true, rec: Record{PublicKey: key}})
	return true
}

// Get returns the record of key.
func (s *RecordSet) Get(key Key) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[key]
	return r.Clone(), ok
}

// Len is the number of records.
func (s *RecordSet) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

func (s *RecordSet) queue(ev recordEvent) {
	if !s.ready {
		return // watchers are still waiting for the first snapshot
	}
	for w := range s.watches {
		if w.snapshot {
			continue // the snapshot will carry it
		}
		if len(w.events) >= maxQueuedEvents {
			w.events, w.snapshot = w.events[:0], true
		} else {
			w.events = append(w.events, ev)
		}
		w.notify()
	}
}

func (w *recordWatch) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// list returns the records in key order, so snapshots are reproducible.
func (s *RecordSet) list() []Record {
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r.Clone())
	}
	slices.SortFunc(out, func(a, b Record) int { return bytes.Compare(a.PublicKey[:], b.PublicKey[:]) })
	return out
}

// Watch implements Discovery.Watch: it sends a snapshot once the set is
// ready, then every change, until ctx is done or the sink fails.
func (s *RecordSet) Watch(ctx context.Context, sink DiscoverySink) error {
	w := &recordWatch{wake: make(chan struct{}, 1), snapshot: true}
	s.mu.Lock()
	if s.watches == nil {
		s.watches = make(map[*recordWatch]struct{})
	}
	s.watches[w] = struct{}{}
	if s.ready {
		w.notify()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watches, w)
		s.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.wake:
		}
		s.mu.Lock()
		if !s.ready {
			s.mu.Unlock()
			continue
		}
		var snap []Record
		if w.snapshot {
			snap = s.list()
		}
		doSnap := w.snapshot
		events := w.events
		w.events, w.snapshot = nil, false
		s.mu.Unlock()
		if doSnap {
			if err := sink.Snapshot(snap); err != nil {
				return err
			}
			continue
		}
		for _, ev := range events {
			var err error
			if ev.remove {
				err = sink.Remove(ev.rec.PublicKey)
			} else {
				err = sink.Upsert(ev.rec)
			}
			if err != nil {
				return err
			}
		}
	}
}

// Keys lists the keys of the records in the set.
func (s *RecordSet) Keys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]Key, 0, len(s.records))
	for k := range s.records {
		keys = append(keys, k)
	}
	return keys
}
