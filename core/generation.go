// SPDX-License-Identifier: MIT

package core

import (
	"context"
	"sync"
)

// generation counts configuration changes, so that what mirrors the
// configuration (discovery, a metrics names file) can wait for a change
// instead of taking a full Snapshot on a timer. One channel per
// generation is closed when the next one begins: any number of waiters,
// no goroutine per waiter, no lost wake-up between reading the counter
// and waiting.
type generation struct {
	mu      sync.Mutex
	n       uint64
	changed chan struct{} // closed when n moves past its current value
}

// bump starts a new generation and wakes every waiter on the old one.
func (g *generation) bump() {
	g.mu.Lock()
	g.n++
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
	g.mu.Unlock()
}

// Generation is the tunnel's configuration generation: it grows by at
// least one whenever the interface key, the listen port or fwmark, the
// set of peers or a peer's key, endpoint, keepalive or allowed IPs is
// changed, and when the UDP port is opened or closed. An Apply that
// changes nothing leaves it as it is. Handshakes, roaming and counters do
// not move it.
func (t *Tunnel) Generation() uint64 {
	t.gen.mu.Lock()
	defer t.gen.mu.Unlock()
	return t.gen.n
}

// Changed returns a channel that is closed once the generation is past
// gen (at once if it is already). The usual loop reads Generation, looks
// at the configuration, then waits on Changed of what it read.
func (t *Tunnel) Changed(gen uint64) <-chan struct{} {
	t.gen.mu.Lock()
	defer t.gen.mu.Unlock()
	if t.gen.n != gen {
		return closedChan
	}
	if t.gen.changed == nil {
		t.gen.changed = make(chan struct{})
	}
	return t.gen.changed
}

// WaitChange blocks until the generation is past gen, the tunnel is
// closed or ctx is done, and returns the generation then.
func (t *Tunnel) WaitChange(ctx context.Context, gen uint64) (uint64, error) {
	select {
	case <-t.Changed(gen):
		return t.Generation(), nil
	case <-t.closed:
		return t.Generation(), ErrClosed
	case <-ctx.Done():
		return t.Generation(), ctx.Err()
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Identity returns the interface's public key (zero without one) and its
// listen port (the bound one while up): what a node announces of itself,
// without the cost of a Snapshot.
func (t *Tunnel) Identity() (PublicKey, uint16) {
	t.mu.RLock()
	var pub PublicKey
	if t.keyStore != nil {
		pub = t.keyStore.PublicKey()
	}
	port := t.listenPort
	t.mu.RUnlock()
	t.bindMu.RLock()
	if t.bindOpen {
		port = t.boundPort
	}
	t.bindMu.RUnlock()
	return pub, port
}
