// SPDX-License-Identifier: MIT

package core

import "time"

// Clock is where every timer of the protocol reads time and schedules its
// callbacks. The real one wraps package time; tests use a fake one
// (coretest.FakeClock) to run minutes of protocol life in milliseconds.
type Clock interface {
	// Now returns the current time. Only its monotonic differences matter to
	// the protocol, except for TAI64N timestamps and "last handshake" times.
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled callback from a Clock.
type Timer interface {
	// Stop cancels the timer; it reports whether it was pending.
	Stop() bool
	// Reset reschedules the timer to fire d from now.
	Reset(d time.Duration) bool
}

// SystemClock is the Clock of package time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
