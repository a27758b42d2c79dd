// SPDX-License-Identifier: MIT

// Package ratelimit limits how many handshake messages each source address
// may make the device process (whitepaper §5.3: handshakes cost a
// Diffie-Hellman each, so one busy source must not starve the others).
//
// Each source gets a token bucket refilled at PacketsPerSecond up to
// PacketsBurst. IPv4 sources are keyed by their full address; IPv6 sources by
// their /64, since one host commonly controls a whole /64 and could otherwise
// spread a flood over 2^64 buckets.
//
// The limiter never reads the clock and starts no goroutine: callers pass
// now, and idle buckets are swept during Allow.
package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

const (
	// PacketsPerSecond is the sustained rate allowed per source.
	PacketsPerSecond = 20
	// PacketsBurst is how many packets a source that has been quiet may send
	// back to back.
	PacketsBurst = 5
	// MaxEntries caps the table so that a flood from many sources cannot
	// grow memory without bound. About 64 bytes per entry, so a few MiB.
	MaxEntries = 1 << 16
	// IdleTimeout is how long a source may stay silent before its entry is
	// dropped. A bucket refills completely in PacketsBurst/PacketsPerSecond
	// (250 ms), so dropping it afterwards loses nothing: a new entry starts
	// full too.
	IdleTimeout = time.Second

	// Tokens are kept in nanoseconds of credit, so refilling is a plain
	// subtraction of timestamps without rounding.
	packetCost = int64(time.Second / PacketsPerSecond)
	maxTokens  = packetCost * PacketsBurst
)

// key identifies a bucket: the IPv4 address, or the first 8 bytes of an IPv6
// address. The family flag keeps 192.0.2.1 apart from an IPv6 /64 whose
// first bytes happen to be the same.
type key struct {
	v6   bool
	addr [8]byte
}

type bucket struct {
	tokens int64
	last   time.Time
}

// Limiter is a set of per-source token buckets. It is safe for concurrent
// use; the zero value is not usable, call New.
type Limiter struct {
	mu      sync.Mutex
	buckets map[key]bucket
	// openWhenFull lets a new source through while the table is full
	// (NewOpenWhenFull) instead of refusing it.
	openWhenFull bool
	// lastSweep is when idle buckets were last removed; sweeping at most
	// once per IdleTimeout keeps the amortised cost per call constant.
	lastSweep time.Time
}

// New returns an empty Limiter.
func New() *Limiter {
	return &Limiter{buckets: make(map[key]bucket)}
}

// NewOpenWhenFull returns an empty Limiter that, while its table is full,
// allows new sources untracked rather than refusing them. It is for what
// is cheap to grant and must not be denied to a real sender by a flood of
// spoofed sources, such as cookie replies: a limit that then fails open
// costs what no limit would.
func NewOpenWhenFull() *Limiter {
	return &Limiter{buckets: make(map[key]bucket), openWhenFull: true}
}

// Allow reports whether a handshake message from addr may be processed at
// now, and if so spends a token of addr's bucket. It refuses the invalid
// address, and refuses new sources while the table is full of sources
// active within the last IdleTimeout: under such a flood, sources already
// known keep their share rather than being evicted by spoofed newcomers.
func (l *Limiter) Allow(addr netip.Addr, now time.Time) bool {
	k, ok := keyOf(addr)
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	// Callers read the clock before taking the lock, so timestamps arrive
	// slightly out of order; only a step back of a whole IdleTimeout (a
	// fake or wall clock being reset) is treated as a reason to sweep.
	if d := now.Sub(l.lastSweep); d >= IdleTimeout || d <= -IdleTimeout {
		l.sweep(now)
	}

	b, found := l.buckets[k]
	if !found {
		if len(l.buckets) >= MaxEntries {
			return l.openWhenFull
		}
		l.buckets[k] = bucket{tokens: maxTokens - packetCost, last: now}
		return true
	}
	// A clock that steps backwards must not mint tokens (nor take them).
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.tokens+int64(elapsed), maxTokens)
		b.last = now
	}
	allowed := b.tokens >= packetCost
	if allowed {
		b.tokens -= packetCost
	}
	l.buckets[k] = b
	return allowed
}

// sweep drops buckets idle for longer than IdleTimeout. Called with l.mu held.
func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.last) > IdleTimeout {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Len returns the number of sources currently tracked, for statistics.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// keyOf maps addr to its bucket key; IPv4-mapped IPv6 addresses count as the
// IPv4 address they carry, so a dual-stack socket cannot double a sender's
// allowance.
func keyOf(addr netip.Addr) (key, bool) {
	addr = addr.Unmap()
	var k key
	switch {
	case addr.Is4():
		a := addr.As4()
		copy(k.addr[:], a[:])
	case addr.Is6():
		a := addr.As16()
		copy(k.addr[:], a[:8])
		k.v6 = true
	default:
		return key{}, false
	}
	return k, true
}
