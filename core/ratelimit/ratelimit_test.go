// SPDX-License-Identifier: MIT

package ratelimit

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// drain calls Allow n times at now and returns how many were allowed.
func drain(l *Limiter, a netip.Addr, now time.Time, n int) int {
	allowed := 0
	for range n {
		if l.Allow(a, now) {
			allowed++
		}
	}
	return allowed
}

func TestBurst(t *testing.T) {
	l := New()
	a := ip("192.0.2.1")
	for i := range PacketsBurst {
		if !l.Allow(a, t0) {
			t.Fatalf("packet %d of the burst refused", i)
		}
	}
	if l.Allow(a, t0) {
		t.Fatal("packet after the burst allowed")
	}
	// Another source is unaffected.
	if got := drain(l, ip("192.0.2.2"), t0, 10); got != PacketsBurst {
		t.Fatalf("second source: %d allowed, want %d", got, PacketsBurst)
	}
}

func TestRefill(t *testing.T) {
	l := New()
	a := ip("198.51.100.7")
	drain(l, a, t0, PacketsBurst)
	step := time.Second / PacketsPerSecond

	now := t0.Add(step - time.Nanosecond)
	if l.Allow(a, now) {
		t.Fatal("allowed before a token was earned")
	}
	now = t0.Add(step)
	if !l.Allow(a, now) {
		t.Fatal("refused after one refill interval")
	}
	if l.Allow(a, now) {
		t.Fatal("two packets on one token")
	}

	// Sustained: one packet every 50 ms for 3 s is always allowed, a second
	// one in the same instant never is.
	for i := 1; i <= 3*PacketsPerSecond; i++ {
		now = now.Add(step)
		if !l.Allow(a, now) {
			t.Fatalf("sustained packet %d refused", i)
		}
		if l.Allow(a, now) {
			t.Fatalf("extra packet %d allowed", i)
		}
	}

	// Credit never exceeds the burst, however long the pause (as long as
	// the entry survives: stay below IdleTimeout).
	now = now.Add(IdleTimeout)
	if got := drain(l, a, now, 20); got != PacketsBurst {
		t.Fatalf("after a pause: %d allowed, want %d", got, PacketsBurst)
	}
	// Over one second at 20/s from an empty bucket: 20 packets.
	allowed := 0
	for ms := 1; ms <= 1000; ms++ {
		if l.Allow(a, now.Add(time.Duration(ms)*time.Millisecond)) {
			allowed++
		}
	}
	if allowed != PacketsPerSecond {
		t.Fatalf("one second of flooding: %d allowed, want %d", allowed, PacketsPerSecond)
	}
}

func TestClockBackwards(t *testing.T) {
	l := New()
	a := ip("192.0.2.9")
	drain(l, a, t0, PacketsBurst)
	if l.Allow(a, t0.Add(-time.Hour)) {
		t.Fatal("stepping the clock back minted a token")
	}
	if !l.Allow(a, t0.Add(time.Second/PacketsPerSecond)) {
		t.Fatal("refill after the clock came back")
	}
}

func TestIPv6Prefix(t *testing.T) {
	l := New()
	if got := drain(l, ip("2001:db8:1:2::1"), t0, PacketsBurst); got != PacketsBurst {
		t.Fatalf("first address: %d", got)
	}
	// Same /64, different interface identifier (and a zone): same bucket.
	for _, s := range []string{"2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::3%eth0"} {
		if l.Allow(ip(s), t0) {
			t.Fatalf("%s has its own bucket, want the /64's", s)
		}
	}
	// Neighbouring /64s: own buckets.
	for _, s := range []string{"2001:db8:1:3::1", "2001:db8:1:1:ffff::1"} {
		if !l.Allow(ip(s), t0) {
			t.Fatalf("%s shares a bucket with another /64", s)
		}
	}
	// An IPv6 /64 whose first bytes spell an IPv4 address is not that
	// IPv4 address.
	drain(l, ip("192.0.2.1"), t0, PacketsBurst)
	if !l.Allow(ip("c000:201::1"), t0) {
		t.Fatal("IPv6 prefix collides with an IPv4 address")
	}
}

func TestIPv4Mapped(t *testing.T) {
	l := New()
	drain(l, ip("203.0.113.5"), t0, PacketsBurst)
	if l.Allow(ip("::ffff:203.0.113.5"), t0) {
		t.Fatal("IPv4-mapped address has its own bucket")
	}
	if !l.Allow(ip("::ffff:203.0.113.6"), t0) {
		t.Fatal("IPv4-mapped address shares a neighbour's bucket")
	}
	// IPv4 is keyed by full address: the neighbour in the same /24 is free.
	if !l.Allow(ip("203.0.113.4"), t0) {
		t.Fatal("IPv4 neighbour shares a bucket")
	}
}

func TestInvalidAddress(t *testing.T) {
	l := New()
	if l.Allow(netip.Addr{}, t0) {
		t.Fatal("invalid address allowed")
	}
	if l.Len() != 0 {
		t.Fatal("invalid address took an entry")
	}
}

func TestGC(t *testing.T) {
	l := New()
	for i := range 100 {
		l.Allow(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), t0)
	}
	busy := ip("10.1.0.1")
	l.Allow(busy, t0.Add(IdleTimeout/2))
	if n := l.Len(); n != 101 {
		t.Fatalf("Len = %d, want 101", n)
	}
	// Just after the first sweep point nothing is idle long enough yet.
	l.Allow(busy, t0.Add(IdleTimeout))
	if n := l.Len(); n != 101 {
		t.Fatalf("Len after early sweep = %d, want 101", n)
	}
	// The next sweep comes a full IdleTimeout later and removes the idle
	// ones, keeping the source that was active within the timeout.
	l.Allow(busy, t0.Add(2*IdleTimeout))
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after sweep = %d, want 1", n)
	}
	// A swept source starts again with a full bucket.
	if got := drain(l, ip("10.0.0.0"), t0.Add(2*IdleTimeout), 10); got != PacketsBurst {
		t.Fatalf("swept source: %d allowed, want %d", got, PacketsBurst)
	}
}

func TestCap(t *testing.T) {
	l := New()
	addr := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for i := range MaxEntries {
		if !l.Allow(addr(i), t0) {
			t.Fatalf("source %d refused below the cap", i)
		}
	}
	if l.Allow(addr(MaxEntries), t0) {
		t.Fatal("new source allowed with the table full")
	}
	if !l.Allow(addr(0), t0) {
		t.Fatal("known source refused with the table full")
	}
	if n := l.Len(); n != MaxEntries {
		t.Fatalf("Len = %d, want %d", n, MaxEntries)
	}
	// Once the flood goes idle, the sweep makes room.
	later := t0.Add(2 * IdleTimeout)
	if !l.Allow(addr(MaxEntries), later) {
		t.Fatal("new source refused after the table was swept")
	}
	if n := l.Len(); n != 1 {
		t.Fatalf("Len after sweep = %d, want 1", n)
	}
}

// An open-when-full limiter still limits the sources it tracks, and lets
// a newcomer through untracked while a flood of others fills the table.
func TestCapOpenWhenFull(t *testing.T) {
	l := NewOpenWhenFull()
	addr := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for i := range MaxEntries {
		if !l.Allow(addr(i), t0) {
			t.Fatalf("source %d refused below the cap", i)
		}
	}
	newcomer := ip("192.0.2.7")
	if got := drain(l, newcomer, t0, 3*PacketsBurst); got != 3*PacketsBurst {
		t.Fatalf("newcomer with the table full: %d of %d allowed, want all", got, 3*PacketsBurst)
	}
	if n := l.Len(); n != MaxEntries {
		t.Fatalf("Len = %d, want %d (the newcomer untracked)", n, MaxEntries)
	}
	// A tracked source is held to its bucket: one token was spent above.
	if got := drain(l, addr(0), t0, 2*PacketsBurst); got != PacketsBurst-1 {
		t.Fatalf("tracked source with the table full: %d allowed, want %d", got, PacketsBurst-1)
	}
	// Below the cap it limits like New.
	o := NewOpenWhenFull()
	if got := drain(o, newcomer, t0, 2*PacketsBurst); got != PacketsBurst {
		t.Fatalf("open-when-full limiter below the cap: %d allowed, want %d", got, PacketsBurst)
	}
}

func TestConcurrent(t *testing.T) {
	l := New()
	var allowed atomic.Int64
	var wg sync.WaitGroup
	shared := ip("2001:db8::1")
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := netip.AddrFrom4([4]byte{10, 0, 0, byte(g)})
			// All timestamps stay within IdleTimeout so that the shared
			// entry is never swept while the goroutines disagree on time.
			for i := range 2000 {
				now := t0.Add(time.Duration(i) * 100 * time.Microsecond)
				if l.Allow(shared, t0) {
					allowed.Add(1)
				}
				l.Allow(own, now)
				if i%100 == 0 {
					l.Len()
				}
			}
		}()
	}
	wg.Wait()
	// Every goroutine hit the shared source at the same instant, so
	// together they got exactly one burst.
	if got := allowed.Load(); got != PacketsBurst {
		t.Fatalf("shared source: %d allowed across goroutines, want %d", got, PacketsBurst)
	}
}

func BenchmarkAllow(b *testing.B) {
	l := New()
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	now := t0
	i := 0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		l.Allow(addrs[i&1023], now)
		i++
	}
}
