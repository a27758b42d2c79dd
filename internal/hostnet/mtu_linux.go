// SPDX-License-Identifier: MIT

package hostnet

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// PathMTU returns the smallest MTU on the way to any of addrs, as the
// routing table sees it: the route's own MTU when it has one, else the
// MTU of the interface it leaves by. Without addresses, or when none has
// a route, it is the MTU of the default route's interface. ok is false
// when nothing could be found.
//
// This must run on the namespace that holds the UDP socket, which is not
// the tunnel's own under "up --netns".
func (h *Host) PathMTU(addrs []netip.Addr) (mtu int, ok bool) {
	for _, a := range addrs {
		routes, err := h.nl.RouteGet(net.IP(a.Unmap().AsSlice()))
		if err != nil || len(routes) == 0 {
			continue
		}
		if m := h.routeMTU(routes[0]); m > 0 && (!ok || m < mtu) {
			mtu, ok = m, true
		}
	}
	if ok {
		return mtu, true
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := retryDump(func() ([]netlink.Route, error) {
			return h.nl.RouteListFiltered(fam, &netlink.Route{Table: MainTable}, netlink.RT_FILTER_TABLE)
		})
		if err != nil {
			continue
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			if m := h.routeMTU(r); m > 0 {
				return m, true
			}
		}
	}
	return 0, false
}

func (h *Host) routeMTU(r netlink.Route) int {
	if r.MTU > 0 {
		return r.MTU
	}
	index := r.LinkIndex
	if index == 0 && len(r.MultiPath) > 0 {
		index = r.MultiPath[0].LinkIndex
	}
	if index == 0 {
		return 0
	}
	l, err := h.nl.LinkByIndex(index)
	if err != nil {
		return 0
	}
	return l.Attrs().MTU
}
