// SPDX-License-Identifier: MIT

package core

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBufferPoolBound(t *testing.T) {
	p := newBufferPool(3, 64)
	var got []*[]byte
	for i := 0; i < 3; i++ {
		b := p.get(false)
		if b == nil || len(*b) != 64 {
			t.Fatalf("get %d: %v", i, b)
		}
		got = append(got, b)
	}
	if b := p.get(false); b != nil {
		t.Fatal("a fourth buffer from a pool of three")
	}
	if n := p.inUse.Load(); n != 3 {
		t.Fatalf("in use after a refused get: %d, want 3", n)
	}
	p.put(got[0])
	if b := p.get(false); b == nil {
		t.Fatal("no buffer after one came back")
	}
	// The send pool grows with the MTU: a smaller buffer is not handed out
	// again.
	p.setSize(128)
	p.put(got[1])
	if b := p.get(false); b == nil || len(*b) != 128 {
		t.Fatalf("after setSize(128): %v", b)
	}
}

// A waiting get is woken by a put, however the two interleave.
func TestBufferPoolWait(t *testing.T) {
	p := newBufferPool(1, 16)
	for round := 0; round < 2000; round++ {
		b := p.get(false)
		if b == nil {
			t.Fatalf("round %d: pool empty at the start", round)
		}
		done := make(chan *[]byte)
		go func() { done <- p.get(true) }()
		if round%2 == 0 {
			time.Sleep(time.Microsecond) // let the getter block, sometimes
		}
		p.put(b)
		select {
		case b2 := <-done:
			p.put(b2)
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: a waiting get was not woken by put", round)
		}
	}
	if n := p.inUse.Load(); n != 0 {
		t.Fatalf("in use at the end: %d", n)
	}
}

// Waiting and failing gets mixed: never more than max buffers out at
// once, and no waiting get is left asleep while buffers are free (the
// test would hang).
func TestBufferPoolConcurrent(t *testing.T) {
	const max = 4
	p := newBufferPool(max, 16)
	var held atomic.Int64 // buffers handed out and not yet put back
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				b := p.get(g%2 == 0)
				if b == nil {
					continue
				}
				if n := held.Add(1); n > max {
					t.Errorf("%d buffers out of %d", n, max)
				}
				held.Add(-1)
				p.put(b)
			}
		}()
	}
	wg.Wait()
	if n := p.inUse.Load(); n != 0 {
		t.Fatalf("in use at the end: %d", n)
	}
}
