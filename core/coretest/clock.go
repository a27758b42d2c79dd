// SPDX-License-Identifier: MIT

// Package coretest holds test doubles for the core's ports: a controllable
// clock, a connected pair of in-memory Devices and an in-memory network of
// Binds. Any package's tests can use them to run core.Tunnels without root,
// sockets or real time.
package coretest

import (
	"sort"
	"sync"
	"time"

	"github.com/wgplex/wgplex/core"
)

// FakeClock is a core.Clock whose time moves only when Advance is called.
// Callbacks of timers that fall due run synchronously inside Advance, in
// time order, each with the clock already set to its due time.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    uint64
	timers map[*fakeTimer]struct{}
}

// NewFakeClock returns a clock starting at start.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, timers: make(map[*fakeTimer]struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) core.Timer {
	t := &fakeTimer{c: c, f: f}
	t.Reset(d)
	return t
}

// Advance moves time forward by d, firing every timer due on the way.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var due []*fakeTimer
		for t := range c.timers {
			if !t.when.After(end) {
				due = append(due, t)
			}
		}
		if len(due) == 0 {
			c.now = end
			c.mu.Unlock()
			return
		}
		sort.Slice(due, func(i, j int) bool {
			if due[i].when.Equal(due[j].when) {
				return due[i].seq < due[j].seq
			}
			return due[i].when.Before(due[j].when)
		})
		t := due[0]
		delete(c.timers, t)
		if t.when.After(c.now) {
			c.now = t.when
		}
		f := t.f
		c.mu.Unlock()
		f()
	}
}

// Pending returns how many timers are scheduled.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c    *FakeClock
	f    func()
	when time.Time
	seq  uint64
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	delete(t.c.timers, t)
	return ok
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, ok := t.c.timers[t]
	t.c.seq++
	t.seq = t.c.seq
	t.when = t.c.now.Add(d)
	t.c.timers[t] = struct{}{}
	return ok
}
