// SPDX-License-Identifier: MIT

package hostnet

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := NewState(dir, "wg7", "box", "/etc/wireguard/wg7.conf")
	st.AutoFwMark = 51820
	old := "0"
	zero := 0
	changes := []Change{
		{Kind: KindLink, Name: "wg7"},
		{Kind: KindAddress, Name: "wg7", Prefix: netip.MustParsePrefix("10.0.0.1/24")},
		{Kind: KindSysctl, Path: srcValidMark, Old: &old},
		{Kind: KindRule, Family: 6, Table: 254, Priority: 32764, SuppressPrefixlen: &zero},
		{Kind: KindRoute, Name: "wg7", Prefix: netip.MustParsePrefix("::/0"), Table: 51820},
		{Kind: KindNftTable, Family: 6, Name: FullTunnelTable("wg7")},
	}
	for _, c := range changes {
		if err := st.Record(c); err != nil {
			t.Fatal(err)
		}
	}
	if !StateExists(dir, "wg7") {
		t.Fatal("StateExists = false after Record")
	}
	fi, err := os.Stat(st.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadState(dir, "wg7")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("loaded %+v, want %+v", got, st)
	}
	if _, err := LoadState(dir, "wg8"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadState of a missing file: %v, want ErrNotExist", err)
	}
	if err := os.Rename(st.Path(), statePath(dir, "wg9")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir, "wg9"); err == nil {
		t.Error("a state file for another interface was accepted")
	}
	st.path = statePath(dir, "wg9")
	if err := st.Remove(); err != nil || StateExists(dir, "wg9") {
		t.Errorf("Remove: %v, exists %v", err, StateExists(dir, "wg9"))
	}
	if err := st.Remove(); err != nil {
		t.Errorf("second Remove: %v", err)
	}
}

func TestParseTable(t *testing.T) {
	cases := map[string]int{"0": 0, "1234": 1234, "main": 254, "local": 255, "default": 253}
	if strconv.IntSize == 64 {
		largest := ^uint32(0) // the largest table number; does not fit an int on 32-bit
		cases["4294967295"] = int(largest)
	}
	for in, want := range cases {
		if got, err := ParseTable(in); err != nil || got != want {
			t.Errorf("ParseTable(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"no-such-table", "4294967296", "-1"} {
		if _, err := ParseTable(in); err == nil {
			t.Errorf("ParseTable(%q) succeeded", in)
		}
	}
}
