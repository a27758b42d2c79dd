// SPDX-License-Identifier: MIT

package core

import (
	"sync"
	"sync/atomic"
)

// bufferPool hands out data-path buffers and bounds how many exist at once.
// sync.Pool alone would let a flood allocate without limit (every packet in
// flight holds a buffer), so a counting semaphore caps the total: when it is
// exhausted, get reports failure and the caller drops the packet.
//
// The count is an atomic: taking and returning a buffer is then one atomic
// add each, where a channel used as a semaphore takes its lock twice per
// packet. Only a waiting get (the TUN reader, when every buffer is out)
// touches the mutex and condition variable.
//
// Buffers have a size that may change (the send pool follows the MTU):
// get never returns one smaller than the current size, and put lets
// smaller ones go to the garbage collector.
type bufferPool struct {
	pool    sync.Pool
	max     int64
	inUse   atomic.Int64
	size    atomic.Int64
	waiters atomic.Int32 // gets blocked in take; put wakes them
	mu      sync.Mutex
	room    *sync.Cond
}

func newBufferPool(max, size int) *bufferPool {
	p := &bufferPool{max: int64(max)}
	p.room = sync.NewCond(&p.mu)
	p.size.Store(int64(size))
	return p
}

// take counts one more buffer out, waiting for one to come back when all
// max are out and wait is set; it reports false when it cannot.
func (p *bufferPool) take(wait bool) bool {
	for {
		if p.inUse.Add(1) <= p.max {
			return true
		}
		p.release() // our own count, which another waiter may have seen
		if !wait {
			return false
		}
		// A release between our check and the Wait is not lost: release
		// reads waiters after its decrement, and we raise waiters before
		// we look at the count, under the mutex release takes to signal.
		p.mu.Lock()
		p.waiters.Add(1)
		for p.inUse.Load() >= p.max {
			p.room.Wait()
		}
		p.waiters.Add(-1)
		p.mu.Unlock()
	}
}

// get returns a buffer, blocking while the pool is exhausted when wait is
// set (the TUN reader: back-pressure on the sender), or failing at once
// otherwise (the receive path: drop under flood).
func (p *bufferPool) get(wait bool) *[]byte {
	if !p.take(wait) {
		return nil
	}
	size := int(p.size.Load())
	if b, ok := p.pool.Get().(*[]byte); ok && len(*b) >= size {
		return b
	}
	b := make([]byte, size)
	return &b
}

// put returns a buffer taken with get.
func (p *bufferPool) put(b *[]byte) {
	if b == nil {
		return
	}
	if len(*b) >= int(p.size.Load()) {
		p.pool.Put(b)
	}
	p.release()
}

// release counts one buffer back in and wakes the gets waiting for one.
func (p *bufferPool) release() {
	p.inUse.Add(-1)
	if p.waiters.Load() > 0 {
		p.mu.Lock()
		p.room.Broadcast()
		p.mu.Unlock()
	}
}

// setSize changes the size of the buffers get returns from now on.
func (p *bufferPool) setSize(size int) { p.size.Store(int64(size)) }

// currentSize is the size of the buffers get returns.
func (p *bufferPool) currentSize() int { return int(p.size.Load()) }
