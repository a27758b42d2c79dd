// SPDX-License-Identifier: MIT

package plugins

import (
	"time"

	"github.com/wgplex/wgplex/core"
)

// resolveLoop looks up host-name endpoints again now and then, on a
// goroutine of its own so that a slow resolver holds up nothing else.
func (d *Discovery) resolveLoop() {
	defer d.wg.Done()
	t := time.NewTicker(d.opts.ReresolveInterval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
			d.book.reresolve(d.ctx)
		}
	}
}

// managedLoop tells OnManaged the owned peers after they changed.
func (d *Discovery) managedLoop() {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.managed:
			d.opts.OnManaged(d.book.ownedKeys())
		}
	}
}

// identityReader is the cheap way to the interface's key and port
// (core.Tunnel has it); without it they come from a Snapshot.
type identityReader interface {
	Identity() (core.PublicKey, uint16)
}

// identity is the interface's public key and listen port.
func (d *Discovery) identity() (core.PublicKey, uint16) {
	if r, ok := d.opts.Tunnel.(identityReader); ok {
		return r.Identity()
	}
	snap := d.opts.Tunnel.Snapshot()
	return snap.PublicKey, snap.ListenPort
}

// currentKey is the interface key the self loop last saw.
func (d *Discovery) currentKey() core.PublicKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastKey
}
