// SPDX-License-Identifier: MIT

package hostnet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// AddVethPair creates a veth pair with one end, aName, in namespace aNs
// and the other, bName, in bNs. Both ends are created directly inside
// their namespaces, so the names never meet in the caller's.
func AddVethPair(aNs, aName, bNs, bName string) error {
	a, err := openNetns(aNs)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := openNetns(bNs)
	if err != nil {
		return err
	}
	defer b.Close()
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName, Namespace: netlink.NsFd(a)},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(b),
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth %s/%s <-> %s/%s: %w", aNs, aName, bNs, bName, err)
	}
	return nil
}

// LinkUpWithAddress gives interface ifname in namespace ns the address
// cidr and brings it up. An IPv6 address skips duplicate address
// detection, so that it can be used at once.
func LinkUpWithAddress(ns, ifname, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return err
	}
	h, err := Open(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(p, false), Broadcast: net.IPv4zero}
	if p.Addr().Is6() {
		a.Flags = 0x02 // IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("%s: add %s to %s: %w", ns, cidr, ifname, err)
	}
	return h.nl.LinkSetUp(l)
}
