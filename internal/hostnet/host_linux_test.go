// SPDX-License-Identifier: MIT

package hostnet

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// testNetns creates a namespace of its own for a test that changes
// routes and rules, with a veth pair dum0/dum1 in it, up, MTU 1400, and
// no IPv6 link-local addresses (whose late arrival would change dumps).
func testNetns(t *testing.T) *Host {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	name := fmt.Sprintf("wgpx-hostnet-%d", os.Getpid())
	if err := CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteNetns(name); err != nil {
			t.Error(err)
		}
	})
	h, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := AddVethPair(name, "dum0", name, "dum1"); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"dum0", "dum1"} {
		if err := h.writeSysctl("net/ipv6/conf/"+dev+"/addr_gen_mode", "1"); err != nil {
			t.Fatal(err)
		}
		if err := h.SetMTUUp(dev, 1400); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// dump lists what the tests change, through netlink, for before/after
// comparisons.
func dump(t *testing.T, h *Host) string {
	t.Helper()
	var b strings.Builder
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.nl.RouteListFiltered(fam, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			// The kernel adds ff00::/8 to the local table on its own once
			// IPv6 is active on a link, at a time of its choosing; the
			// changes under test never touch multicast routes.
			if r.Dst != nil && r.Dst.IP.IsMulticast() {
				continue
			}
			fmt.Fprintf(&b, "route %v table %d dev %d\n", r.Dst, r.Table, r.LinkIndex)
		}
		rules, err := h.nl.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			fmt.Fprintf(&b, "rule %s\n", r)
		}
	}
	addrs, err := h.Addresses("dum0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "addresses %v\n", addrs)
	v, err := h.readSysctl(srcValidMark)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "src_valid_mark %s\n", v)
	return b.String()
}

func TestHostChangesAndUndo(t *testing.T) {
	h := testNetns(t)
	before := dump(t, h)
	st := NewState(t.TempDir(), "dum0", h.Netns(), "")
	var log []string
	h.Log = func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) }

	p := netip.MustParsePrefix
	for _, a := range []string{"10.77.0.1/24", "fd00:77::1/64"} {
		if err := h.AddAddress(st, "dum0", p(a)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := h.Addresses("dum0"); err != nil || fmt.Sprint(got) != "[10.77.0.1/24 fd00:77::1/64]" {
		t.Errorf("Addresses = %v, %v", got, err)
	}
	if ok, err := h.RouteCovered("dum0", p("10.77.0.9/32")); err != nil || !ok {
		t.Errorf("RouteCovered(10.77.0.9/32) = %v, %v; the connected /24 covers it", ok, err)
	}
	if ok, err := h.RouteCovered("dum0", p("10.78.0.0/16")); err != nil || ok {
		t.Errorf("RouteCovered(10.78.0.0/16) = %v, %v", ok, err)
	}
	if err := h.AddRoute(st, "dum0", p("10.78.0.0/16"), MainTable); err != nil {
		t.Fatal(err)
	}
	table, err := h.FreeTable(51820)
	if err != nil || table != 51820 {
		t.Fatalf("FreeTable = %d, %v", table, err)
	}
	if err := h.SetSrcValidMark(st); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []int{4, 6} {
		for _, r := range []Rule{
			{Family: fam, Table: table, Mark: uint32(table), Invert: true, SuppressPrefixlen: -1},
			{Family: fam, Table: MainTable, SuppressPrefixlen: 0},
		} {
			if err := h.AddRule(st, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []string{"0.0.0.0/0", "::/0"} {
		if err := h.AddRoute(st, "dum0", p(d), table); err != nil {
			t.Fatal(err)
		}
	}
	if next, err := h.FreeTable(51820); err != nil || next != 51821 {
		t.Errorf("FreeTable with 51820 in use = %d, %v", next, err)
	}
	if ok, err := h.HasSuppressRule(); err != nil || !ok {
		t.Errorf("HasSuppressRule = %v, %v", ok, err)
	}
	if m, ok := h.PathMTU([]netip.Addr{netip.MustParseAddr("10.78.1.1")}); !ok || m != 1400 {
		t.Errorf("PathMTU through dum0 = %d, %v; want 1400", m, ok)
	}
	if len(st.Changes) != 10 {
		t.Errorf("%d changes recorded, want 10: %+v", len(st.Changes), st.Changes)
	}
	if err := h.Undo(st); err != nil {
		t.Fatal(err)
	}
	if after := dump(t, h); after != before {
		t.Errorf("Undo did not restore:\n--- before\n%s--- after\n%s", before, after)
	}
	if len(st.Changes) != 0 {
		t.Errorf("changes left after Undo: %+v", st.Changes)
	}
	// Undoing again, or undoing changes whose objects are gone, is fine.
	st.Changes = []Change{{Kind: KindAddress, Name: "gone0", Prefix: p("10.1.1.1/24")}, {Kind: KindLink, Name: "gone0"}}
	if err := h.Undo(st); err != nil {
		t.Errorf("Undo of vanished objects: %v", err)
	}
	t.Logf("log:\n%s", strings.Join(log, "\n"))
}

func TestInNetns(t *testing.T) {
	h := testNetns(t)
	var inside, outside string
	err := InNetns(h.Netns(), func() error {
		b, err := os.ReadFile("/proc/thread-self/net/dev")
		inside = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("/proc/thread-self/net/dev")
	outside = string(b)
	if !strings.Contains(inside, "dum0") {
		t.Errorf("InNetns did not run in the namespace:\n%s", inside)
	}
	if strings.Contains(outside, "dum0") && inside != outside {
		t.Logf("note: the caller's namespace also has a dum0")
	}
	pids, err := NetnsPids(h.Netns())
	if err != nil || len(pids) != 0 {
		t.Errorf("NetnsPids of an empty namespace = %v, %v", pids, err)
	}
	if err := InNetns("no-such-netns-wgplex", func() error { return nil }); err == nil {
		t.Error("InNetns into a missing namespace succeeded")
	}
}
