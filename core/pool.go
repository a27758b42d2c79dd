package core

import "sync"

// bufferPool hands out data-path buffers and bounds how many exist at once.
// sync.Pool alone would let a flood allocate without limit (every packet in
// flight holds a buffer), so a counting semaphore caps the total: when it is
// exhausted, get reports failure and the caller drops the packet.
type bufferPool struct {
	pool sync.Pool
	sem  chan struct{}
}

func newBufferPool(max int) *bufferPool {
	p := &bufferPool{sem: make(chan struct{}, max)}
	p.pool.New = func() any { b := make([]byte, bufferSize); return &b }
	return p
}

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
	return p.pool.Get().(*[]byte)
}

// put returns a buffer taken with get.
func (p *bufferPool) put(b *[]byte) {
	if b == nil {
		return
	}
	p.pool.Put(b)
	<-p.sem
}
