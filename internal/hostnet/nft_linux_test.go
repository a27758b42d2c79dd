// SPDX-License-Identifier: MIT

package hostnet

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// A kernel without nf_tables answers with one of these; the error must
// say what is missing rather than pass on a bare errno.
func TestNftErrorNamesMissingNftables(t *testing.T) {
	for _, e := range []error{unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT, unix.ENOENT, unix.EOPNOTSUPP} {
		err := nftError(fmt.Errorf("netlink receive: %w", e))
		if !errors.Is(err, ErrNoNftables) || !errors.Is(err, e) {
			t.Errorf("%v: got %v, want ErrNoNftables wrapping it", e, err)
		}
	}
	if err := nftError(unix.EPERM); errors.Is(err, ErrNoNftables) {
		t.Errorf("EPERM taken for missing nftables: %v", err)
	}
}

// The drop rule compares the interface name as the kernel stores it and
// the destination at the family's offset.
func TestFullTunnelRuleShapes(t *testing.T) {
	for _, tc := range []struct {
		addr string
		off  uint32
		n    uint32
	}{{"10.0.0.1", 16, 4}, {"fd00::1", 24, 16}} {
		ex := dropForeignToAddr("wg0", netip.MustParseAddr(tc.addr))
		cmp := ex[1].(*expr.Cmp)
		if len(cmp.Data) != unix.IFNAMSIZ || string(cmp.Data[:3]) != "wg0" || cmp.Data[3] != 0 || cmp.Op != expr.CmpOpNeq {
			t.Errorf("iifname compare %+v", cmp)
		}
		pl := ex[2].(*expr.Payload)
		if pl.Offset != tc.off || pl.Len != tc.n || len(ex[3].(*expr.Cmp).Data) != int(tc.n) {
			t.Errorf("%s: daddr at %d/%d", tc.addr, pl.Offset, pl.Len)
		}
		if v, ok := ex[len(ex)-1].(*expr.Verdict); !ok || v.Kind != expr.VerdictDrop {
			t.Errorf("%s: last expression %T, want drop", tc.addr, ex[len(ex)-1])
		}
	}
	if FullTunnelTable("wg0") != "wgplex-wg0" {
		t.Fatal(FullTunnelTable("wg0"))
	}
}
