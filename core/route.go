// SPDX-License-Identifier: MIT

package core

import "net/netip"

// Routes reports whether a packet to a would be sent to a peer: some peer's
// allowed IPs cover it. A proxy asks this to refuse a destination the
// tunnel would only drop, instead of letting the client wait for a
// connection that cannot happen.
func (t *Tunnel) Routes(a netip.Addr) bool {
	t.routeMu.RLock()
	defer t.routeMu.RUnlock()
	_, ok := t.routes.Lookup(a.Unmap())
	return ok
}
