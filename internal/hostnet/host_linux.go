// SPDX-License-Identifier: MIT

package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// MainTable is the routing table routes go to when none is named.
const MainTable = unix.RT_TABLE_MAIN

// Host changes one network namespace. Its methods that change something
// record the change in the State they are given before returning.
type Host struct {
	netns string
	ns    netns.NsHandle
	nl    *netlink.Handle
	// Log, when set, is told each change as it is made, in the words
	// ip(8) would use, so that a user sees what "up" does as wg-quick
	// shows it.
	Log func(format string, args ...any)
}

// Open returns a Host for the named namespace, or for the caller's own
// when name is empty.
func Open(name string) (*Host, error) {
	h := &Host{netns: name, ns: netns.None()}
	var err error
	if name == "" {
		h.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		if h.ns, err = openNetns(name); err != nil {
			return nil, err
		}
		h.nl, err = netlink.NewHandleAt(h.ns, unix.NETLINK_ROUTE)
	}
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("netlink: %w", err)
	}
	return h, nil
}

// Close releases the netlink socket and the namespace handle.
func (h *Host) Close() {
	if h.nl != nil {
		h.nl.Close()
	}
	if h.ns.IsOpen() {
		h.ns.Close()
	}
}

// Netns returns the namespace's name, empty for the caller's own.
func (h *Host) Netns() string { return h.netns }

// Do runs fn on a thread in the host's namespace (see InNetns).
func (h *Host) Do(fn func() error) error {
	if h.netns == "" {
		return fn()
	}
	return onThreadIn(h.ns, fn)
}

func (h *Host) logf(format string, args ...any) {
	if h.Log != nil {
		h.Log(format, args...)
	}
}

// retryDump repeats a netlink dump the kernel reports as interrupted (the
// table changed while it was being read), so that a decision is never
// made on a partial list.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range 10 {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// LinkExists reports whether the namespace has an interface ifname.
func (h *Host) LinkExists(ifname string) (bool, error) {
	_, err := h.nl.LinkByName(ifname)
	if err == nil {
		return true, nil
	}
	if isGone(err) {
		return false, nil
	}
	return false, err
}

// LinkNames lists the namespace's interfaces.
func (h *Host) LinkNames() ([]string, error) {
	links, err := retryDump(h.nl.LinkList)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.Attrs().Name
	}
	return names, nil
}

// LinkMTU returns the MTU of ifname.
func (h *Host) LinkMTU(ifname string) (int, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return 0, err
	}
	return l.Attrs().MTU, nil
}

// RecordLink notes in st that interface ifname is being created, before
// it is, so that an interrupted "up" still has it removed by "down".
func (h *Host) RecordLink(st *State, ifname string) error {
	return st.Record(Change{Kind: KindLink, Name: ifname})
}

// DeleteLink removes interface ifname; one already gone is not an error.
func (h *Host) DeleteLink(ifname string) error {
	l, err := h.nl.LinkByName(ifname)
	if isGone(err) {
		return nil
	}
	if err != nil {
		return err
	}
	h.logf("ip link delete dev %s", ifname)
	if err := h.nl.LinkDel(l); err != nil && !isGone(err) {
		return fmt.Errorf("delete %s: %w", ifname, err)
	}
	return nil
}

// SetMTUUp sets ifname's MTU and brings it up. Neither is recorded: both
// go away with the interface.
func (h *Host) SetMTUUp(ifname string, mtu int) error {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return err
	}
	h.logf("ip link set mtu %d up dev %s", mtu, ifname)
	if err := h.nl.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("set MTU of %s to %d: %w", ifname, mtu, err)
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", ifname, err)
	}
	return nil
}

// AddAddress adds p (host bits kept: the interface's own address) to
// ifname.
func (h *Host) AddAddress(st *State, ifname string, p netip.Prefix) error {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return err
	}
	h.logf("ip -%d address add %s dev %s", family(p), p, ifname)
	// No broadcast address: ip(8) sets none unless asked, and a
	// point-to-point tunnel has no use for one.
	a := &netlink.Addr{IPNet: ipNet(p, false), Broadcast: net.IPv4zero}
	if err := h.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("add address %s to %s: %w", p, ifname, err)
	}
	return st.Record(Change{Kind: KindAddress, Name: ifname, Prefix: p})
}

// Addresses lists ifname's addresses, IPv4 first, leaving out the IPv6
// link-local ones the kernel adds by itself.
func (h *Host) Addresses(ifname string) ([]netip.Prefix, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.nl.AddrList(l, fam) })
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			p, ok := prefixOf(a.IPNet, false)
			if !ok || (p.Addr().Is6() && p.Addr().IsLinkLocalUnicast()) {
				continue
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// AddRoute adds a route to p through ifname in table. As ip(8) does for a
// route without a gateway, an IPv4 one has link scope.
func (h *Host) AddRoute(st *State, ifname string, p netip.Prefix, table int) error {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return err
	}
	p = p.Masked()
	if table == MainTable {
		h.logf("ip -%d route add %s dev %s", family(p), p, ifname)
	} else {
		h.logf("ip -%d route add %s dev %s table %d", family(p), p, ifname, table)
	}
	if err := h.nl.RouteAdd(h.route(l.Attrs().Index, p, table)); err != nil {
		return fmt.Errorf("add route %s dev %s table %d: %w", p, ifname, table, err)
	}
	return st.Record(Change{Kind: KindRoute, Name: ifname, Prefix: p, Table: table})
}

func (h *Host) route(index int, p netip.Prefix, table int) *netlink.Route {
	r := &netlink.Route{LinkIndex: index, Dst: ipNet(p, true), Table: table, Protocol: unix.RTPROT_BOOT}
	if p.Addr().Is4() {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

// RouteCovered reports whether a route in the main table through ifname
// already takes traffic for all of p (a connected route of one of the
// interface's addresses, typically), in which case another is not needed.
func (h *Host) RouteCovered(ifname string, p netip.Prefix) (bool, error) {
	l, err := h.nl.LinkByName(ifname)
	if err != nil {
		return false, err
	}
	filter := &netlink.Route{LinkIndex: l.Attrs().Index, Table: MainTable}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.nl.RouteListFiltered(familyConst(p), filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return false, err
	}
	for _, r := range routes {
		dst, ok := prefixOf(r.Dst, true)
		if r.Dst == nil {
			dst, ok = netip.PrefixFrom(zeroAddr(p), 0), true
		}
		if ok && dst.Bits() <= p.Bits() && dst.Contains(p.Addr()) {
			return true, nil
		}
	}
	return false, nil
}

// FreeTable returns the first routing table from start on that holds no
// route of either family.
func (h *Host) FreeTable(start int) (int, error) {
	for t := start; t < start+65536; t++ {
		n := 0
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			routes, err := retryDump(func() ([]netlink.Route, error) {
				return h.nl.RouteListFiltered(fam, &netlink.Route{Table: t}, netlink.RT_FILTER_TABLE)
			})
			if err != nil {
				return 0, err
			}
			n += len(routes)
		}
		if n == 0 {
			return t, nil
		}
	}
	return 0, errors.New("no free routing table")
}

// Rule is a policy routing rule. SuppressPrefixlen < 0 means none.
type Rule struct {
	Family            int // 4 or 6
	Table             int
	Mark              uint32 // 0: no fwmark selector
	Invert            bool   // "not": the rule applies when the selector does not match
	SuppressPrefixlen int
}

// String renders the rule as the ip(8) command that would add it, for
// the trace "up" prints.
func (r Rule) String() string {
	s := ""
	if r.Invert {
		s += "not "
	}
	if r.Mark != 0 {
		s += fmt.Sprintf("fwmark %d ", r.Mark)
	}
	if r.Table == MainTable {
		s += "table main"
	} else {
		s += fmt.Sprintf("table %d", r.Table)
	}
	if r.SuppressPrefixlen >= 0 {
		s += fmt.Sprintf(" suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	return fmt.Sprintf("ip -%d rule add %s", r.Family, s)
}

// AddRule adds r with the priority the kernel picks (just before the
// first rule that has one), as ip(8) does, and records which priority that
// was, so that "down" removes this very rule even if an identical one
// exists.
func (h *Host) AddRule(st *State, r Rule) error {
	before, err := h.rules(r)
	if err != nil {
		return err
	}
	h.logf("%s", r)
	nr := netlink.NewRule()
	nr.Family, nr.Table, nr.Mark, nr.Invert, nr.SuppressPrefixlen = nlFamily(r.Family), r.Table, r.Mark, r.Invert, r.SuppressPrefixlen
	if err := h.nl.RuleAdd(nr); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	after, err := h.rules(r)
	if err != nil {
		return err
	}
	prio := -1
	for _, p := range after {
		if !slices.Contains(before, p) {
			prio = p
			break
		}
	}
	if prio < 0 {
		return fmt.Errorf("%s: added, but not found in the rule list", r)
	}
	c := Change{Kind: KindRule, Family: r.Family, Table: r.Table, Mark: r.Mark, Invert: r.Invert, Priority: prio}
	if r.SuppressPrefixlen >= 0 {
		n := r.SuppressPrefixlen
		c.SuppressPrefixlen = &n
	}
	return st.Record(c)
}

// rules returns the priorities of the rules that look like r.
func (h *Host) rules(r Rule) ([]int, error) {
	list, err := retryDump(func() ([]netlink.Rule, error) { return h.nl.RuleList(nlFamily(r.Family)) })
	if err != nil {
		return nil, err
	}
	var prios []int
	for _, x := range list {
		if x.Table == r.Table && x.Mark == r.Mark && x.Invert == r.Invert &&
			x.SuppressPrefixlen == r.SuppressPrefixlen && x.Src == nil && x.Dst == nil {
			prios = append(prios, x.Priority)
		}
	}
	return prios, nil
}

// HasSuppressRule reports whether an IPv4 rule "table main
// suppress_prefixlength 0" exists: the sign that some interface uses the
// fwmark arrangement for a default route.
func (h *Host) HasSuppressRule() (bool, error) {
	prios, err := h.rules(Rule{Family: 4, Table: MainTable, SuppressPrefixlen: 0})
	return len(prios) > 0, err
}

// isGone reports whether err says the object to remove is already gone.
func isGone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ESRCH) ||
		errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// nlFamily maps 4 and 6 to the netlink address families.
func nlFamily(fam int) int {
	if fam == 6 {
		return netlink.FAMILY_V6
	}
	return netlink.FAMILY_V4
}

func familyConst(p netip.Prefix) int {
	if p.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func zeroAddr(p netip.Prefix) netip.Addr {
	if p.Addr().Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// ipNet converts p for the netlink library; masked drops the host bits.
func ipNet(p netip.Prefix, masked bool) *net.IPNet {
	if masked {
		p = p.Masked()
	}
	a := p.Addr().Unmap()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

// prefixOf converts back; a nil n is not a prefix.
func prefixOf(n *net.IPNet, masked bool) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, total := n.Mask.Size()
	if total == 0 {
		return netip.Prefix{}, false
	}
	if total == 32 {
		a = a.Unmap()
	}
	p := netip.PrefixFrom(a, bits)
	if masked {
		p = p.Masked()
	}
	return p, true
}
