// SPDX-License-Identifier: MIT

package hostnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// A full tunnel (a default route through the fwmark arrangement) needs two
// firewall pieces that routing alone cannot give, the ones wg-quick(8) adds
// for the same setup. They live in one nftables table per interface and
// family, named FullTunnelTable(ifname), which "up" creates and "down"
// deletes, so nothing else in the ruleset is touched:
//
//   - Replies on the underlay must pass reverse-path filtering. With
//     rp_filter=1 the kernel checks an incoming packet's source against the
//     route back to it, and without a mark that route is the tunnel: the
//     peer's answers (and those of anyone reached past the default route)
//     are dropped. So the mark of an outgoing UDP datagram (the tunnel's
//     own, marked by SO_MARK) is copied to its conntrack entry, and copied
//     back onto the packets of the same connection coming in; with
//     src_valid_mark=1 the reverse-path lookup then sees the mark and finds
//     the underlay route.
//   - Packets for the tunnel's own addresses must come in through the
//     tunnel. Otherwise anyone on the LAN can reach a service bound to the
//     tunnel address over the underlay (CVE-2019-14899): such packets are
//     dropped before connection tracking, unless they come from the host
//     itself.
//
// Everything goes through netlink (github.com/google/nftables); the nft
// program is not needed.

// FullTunnelTable is the name of the nftables table "up" creates for
// interface ifname (one per family).
func FullTunnelTable(ifname string) string { return "wgplex-" + ifname }

// ErrNoNftables wraps the failure of a kernel without nf_tables (or
// without the fib and conntrack expressions the rules use).
var ErrNoNftables = errors.New("nftables is not available (a full tunnel needs the kernel's nf_tables with nft_fib and nft_ct to protect the tunnel's addresses and to pass reverse-path filtering)")

func nftFamily(fam int) nftables.TableFamily {
	if fam == 6 {
		return nftables.TableFamilyIPv6
	}
	return nftables.TableFamilyIPv4
}

// AddFullTunnelFirewall creates the full-tunnel table of family fam (4 or
// 6) for ifname: the reverse-path rules for packets marked mark, and a drop
// rule for each of addrs (the interface's addresses of that family)
// arriving on any other interface. It refuses to replace a table of the
// same name that it did not create.
func (h *Host) AddFullTunnelFirewall(st *State, fam int, ifname string, addrs []netip.Addr, mark uint32) error {
	name := FullTunnelTable(ifname)
	family := nftFamily(fam)
	addrs = slices.DeleteFunc(slices.Clone(addrs), func(a netip.Addr) bool { return a.Is4() != (fam == 4) })
	err := h.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoNftables, err)
		}
		tables, err := c.ListTablesOfFamily(family)
		if err != nil {
			return nftError(err)
		}
		if slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == name }) {
			return fmt.Errorf("nftables table %s %s already exists (left over from an earlier run?); it is not replaced: remove it first, e.g. with nft delete table %s %s", familyName(fam), name, familyName(fam), name)
		}
		t := c.AddTable(&nftables.Table{Name: name, Family: family})
		preraw := c.AddChain(&nftables.Chain{Name: "preraw", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw})
		premangle := c.AddChain(&nftables.Chain{Name: "premangle", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityMangle})
		postmangle := c.AddChain(&nftables.Chain{Name: "postmangle", Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityMangle})
		for _, a := range addrs {
			c.AddRule(&nftables.Rule{Table: t, Chain: preraw, Exprs: dropForeignToAddr(ifname, a)})
		}
		c.AddRule(&nftables.Rule{Table: t, Chain: postmangle, Exprs: markToConntrack(mark)})
		c.AddRule(&nftables.Rule{Table: t, Chain: premangle, Exprs: conntrackToMark()})
		if err := c.Flush(); err != nil {
			return nftError(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.logf("nft: table %s %s: mark %#x to conntrack and back for UDP; drop packets for %v not arriving on %s", familyName(fam), name, mark, addrs, ifname)
	return st.Record(Change{Kind: KindNftTable, Family: fam, Name: name})
}

// deleteNftTable undoes AddFullTunnelFirewall; a table already gone counts
// as deleted.
func (h *Host) deleteNftTable(c Change) error {
	h.logf("nft: delete table %s %s", familyName(c.Family), c.Name)
	return h.Do(func() error {
		conn, err := nftables.New()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoNftables, err)
		}
		tables, err := conn.ListTablesOfFamily(nftFamily(c.Family))
		if err != nil {
			return nftError(err)
		}
		if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == c.Name }) {
			return nil
		}
		conn.DelTable(&nftables.Table{Name: c.Name, Family: nftFamily(c.Family)})
		if err := conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete nftables table %s %s: %w", familyName(c.Family), c.Name, err)
		}
		return nil
	})
}

// nftError marks the errors that mean the kernel lacks nftables (or an
// expression the rules use) with ErrNoNftables.
func nftError(err error) error {
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) ||
		errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EOPNOTSUPP) {
		return fmt.Errorf("%w: %w", ErrNoNftables, err)
	}
	return fmt.Errorf("nftables: %w", err)
}

func familyName(fam int) string {
	if fam == 6 {
		return "ip6"
	}
	return "ip"
}

// ifnameBytes is an interface name as the kernel compares it: IFNAMSIZ
// bytes, zero-padded.
func ifnameBytes(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// dropForeignToAddr: iifname != ifname, daddr == a, fib saddr type != local:
// drop.
func dropForeignToAddr(ifname string, a netip.Addr) []expr.Any {
	off, n := uint32(16), uint32(4)
	if a.Is6() {
		off, n = 24, 16
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifnameBytes(ifname)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
		&expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: nativeU32(unix.RTN_LOCAL)},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// markToConntrack: meta l4proto udp, meta mark == mark: ct mark set mark.
func markToConntrack(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: nativeU32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
	}
}

// conntrackToMark: meta l4proto udp: meta mark set ct mark.
func conntrackToMark() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
	}
}

func nativeU32(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}
