// SPDX-License-Identifier: MIT

package core

import (
	"testing"
	"time"
)

// stepClock is a Clock whose time moves only when a test sets now and
// whose callbacks run only when the test calls them (fireDue), counting
// every call the timers make into it. The engine's own tests use
// coretest.FakeClock; tests inside package core cannot (coretest imports
// core).
type stepClock struct {
	now    time.Time
	timers []*stepTimer
}

type stepTimer struct {
	c             *stepClock
	f             func()
	due           time.Time
	set           bool
	resets, stops int
}

func (c *stepClock) Now() time.Time { return c.now }

func (c *stepClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &stepTimer{c: c, f: f, due: c.now.Add(d), set: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *stepTimer) Stop() bool {
	t.stops++
	was := t.set
	t.set = false
	return was
}

func (t *stepTimer) Reset(d time.Duration) bool {
	t.resets++
	was := t.set
	t.set, t.due = true, t.c.now.Add(d)
	return was
}

// fireDue runs t's callback if it is set and due, as the runtime would.
func (t *stepTimer) fireDue() bool {
	if !t.set || t.c.now.Before(t.due) {
		return false
	}
	t.set = false
	t.f()
	return true
}

func TestPeerTimerLazy(t *testing.T) {
	clk := &stepClock{now: time.Unix(1000, 0)}
	p := &Peer{t: &Tunnel{clock: clk}}
	fired := 0
	pt := &p.timers.sendKeepalive
	pt.fire = func() { fired++ }
	p.timers.mu.Lock()
	p.mod(pt, KeepaliveTimeout)
	p.timers.mu.Unlock()
	if len(clk.timers) != 1 {
		t.Fatalf("clock timers after the first mod: %d, want 1", len(clk.timers))
	}
	ct := clk.timers[0]
	firstDue := ct.due

	// A steady exchange: every packet deletes the timer and the next one
	// arms it again, each time a little later. None of it reaches the clock.
	for i := 0; i < 100; i++ {
		clk.now = clk.now.Add(time.Millisecond)
		p.timers.mu.Lock()
		p.del(pt)
		p.mod(pt, KeepaliveTimeout)
		p.timers.mu.Unlock()
	}
	if ct.resets != 0 || ct.stops != 0 {
		t.Fatalf("100 delete-and-arm rounds made %d resets and %d stops, want none", ct.resets, ct.stops)
	}

	// The clock's timer comes at the first deadline, early for the latest
	// one: it re-arms for the remainder without firing.
	clk.now = firstDue
	if !ct.fireDue() {
		t.Fatal("the clock's timer was not set for the first deadline")
	}
	if fired != 0 {
		t.Fatal("fired at an abandoned deadline")
	}
	if ct.resets != 1 || !ct.set || !ct.due.Equal(pt.when) {
		t.Fatalf("after an early callback: resets %d, set %v, due %v; want 1, true, %v", ct.resets, ct.set, ct.due, pt.when)
	}
	clk.now = pt.when
	if !ct.fireDue() || fired != 1 {
		t.Fatalf("at the latest deadline: fired %d times, want 1", fired)
	}

	// Deleted, it never fires; the clock's timer is left to run out.
	p.timers.mu.Lock()
	p.mod(pt, KeepaliveTimeout)
	p.del(pt)
	p.timers.mu.Unlock()
	clk.now = clk.now.Add(KeepaliveTimeout)
	if !ct.fireDue() {
		t.Fatal("the clock's timer was not set by the mod before the delete")
	}
	if fired != 1 {
		t.Fatal("a deleted timer fired")
	}

	// An earlier deadline than the clock's timer is set for needs a Reset.
	p.timers.mu.Lock()
	p.mod(pt, KeepaliveTimeout)
	resets := ct.resets
	p.del(pt)
	p.mod(pt, time.Second)
	p.timers.mu.Unlock()
	if ct.resets != resets+1 || !ct.due.Equal(clk.now.Add(time.Second)) {
		t.Fatalf("an earlier deadline: resets %d -> %d, due %v", resets, ct.resets, ct.due)
	}

	// A peer that goes away stops the clock's timer for real.
	p.stopTimers()
	if ct.set || ct.stops == 0 {
		t.Fatalf("after stopTimers: set %v, stops %d", ct.set, ct.stops)
	}
	p.startTimers()
	p.timers.mu.Lock()
	p.mod(pt, KeepaliveTimeout)
	p.timers.mu.Unlock()
	if !ct.set {
		t.Fatal("mod after startTimers did not set the clock's timer again")
	}
}
