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
// Buffers have a size that may change (the send pool follows the MTU):
// get never returns one smaller than the current size, and put lets
// smaller ones go to the garbage collector.
type bufferPool struct {
	pool sync.Pool
	sem  chan struct{}
	size atomic.Int64
}

func newBufferPool(max, size int) *bufferPool {
	p := &bufferPool{sem: make(chan struct{}, max)}
	p.size.Store(int64(size))
	return p
}

// setSize changes the size of the buffers get returns from now on.
func (p *bufferPool) setSize(size int) { p.size.Store(int64(size)) }

// currentSize is the size of the buffers get returns.
func (p *bufferPool) currentSize() int { return int(p.size.Load()) }

// get returns a buffer, blocking while the pool is exhausted when wait is
// set (the TUN reader: back-pressure on the sender), or failing at once
// otherwise (the receive path: drop under flood).
func (p *bufferPool) get(wait bool) *[]byte {
	if wait {
		p.sem <- struct{}{}
	} else {
		select {
		case p.sem <- struct{}{}:
		default:
			return nil
		}
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
	<-p.sem
}
