// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// attr is one rtattr for buildLinkMsg.
type attr struct {
	typ uint16
	val []byte
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// buildLinkMsg encodes a netlink message carrying an ifinfomsg, the way the
// kernel sends RTM_NEWLINK and RTM_DELLINK.
func buildLinkMsg(typ uint16, index int32, flags uint32, attrs ...attr) []byte {
	ne := binary.NativeEndian
	body := make([]byte, ifinfomsgLen)
	body[0] = unix.AF_UNSPEC
	ne.PutUint16(body[2:], unix.ARPHRD_NONE)
	ne.PutUint32(body[4:], uint32(index))
	ne.PutUint32(body[8:], flags)
	for _, a := range attrs {
		h := make([]byte, rtattrHdrLen)
		ne.PutUint16(h[0:], uint16(rtattrHdrLen+len(a.val)))
		ne.PutUint16(h[2:], a.typ)
		body = append(body, h...)
		body = append(body, a.val...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	msg := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(body))
	ne.PutUint32(msg[0:], uint32(nlmsgHdrLen+len(body)))
	ne.PutUint16(msg[4:], typ)
	return append(msg, body...)
}

func TestParseLinkMessages(t *testing.T) {
	name := attr{unix.IFLA_IFNAME, []byte("wg0\x00")}
	up := buildLinkMsg(unix.RTM_NEWLINK, 7, unix.IFF_UP|unix.IFF_RUNNING, name, attr{unix.IFLA_MTU, u32(1420)})
	other := buildLinkMsg(unix.RTM_NEWLINK, 1, unix.IFF_UP, attr{unix.IFLA_MTU, u32(65536)})
	del := buildLinkMsg(unix.RTM_DELLINK, 7, 0, name)
	addr := append([]byte(nil), up...)
	binary.NativeEndian.PutUint16(addr[4:], unix.RTM_NEWADDR)

	var all []byte
	for _, m := range [][]byte{up, other, addr, del} {
		all = append(all, m...)
	}
	got, err := parseLinkMessages(nil, all)
	if err != nil {
		t.Fatal(err)
	}
	want := []linkUpdate{
		{index: 7, flags: unix.IFF_UP | unix.IFF_RUNNING, mtu: 1420, hasMTU: true},
		{index: 1, flags: unix.IFF_UP, mtu: 65536, hasMTU: true},
		{index: 7, deleted: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d updates %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("update %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	// Every truncation of a valid datagram is either parsed or rejected.
	for n := range len(all) {
		if _, err := parseLinkMessages(nil, all[:n]); err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("truncated at %d: unexpected error %v", n, err)
		}
	}

	// A bad attribute still yields the update, with an error.
	bad := buildLinkMsg(unix.RTM_DELLINK, 9, 0, attr{unix.IFLA_MTU, u32(1)})
	binary.NativeEndian.PutUint16(bad[nlmsgHdrLen+ifinfomsgLen:], 200)
	got, err = parseLinkMessages(nil, bad)
	if !errors.Is(err, errMalformed) || len(got) != 1 || !got[0].deleted || got[0].index != 9 {
		t.Fatalf("bad attribute: %+v, %v", got, err)
	}
}

// FuzzParseLinkMessages checks that no input makes the parser panic and
// that whatever it reports is self-consistent.
func FuzzParseLinkMessages(f *testing.F) {
	f.Add(buildLinkMsg(unix.RTM_NEWLINK, 3, unix.IFF_UP, attr{unix.IFLA_MTU, u32(1420)}))
	f.Add(buildLinkMsg(unix.RTM_DELLINK, 3, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseLinkMessages(nil, b)
		if err != nil && !errors.Is(err, errMalformed) {
			t.Fatalf("unexpected error %v", err)
		}
		// Each update needs at least a header and an ifinfomsg.
		if len(got)*(nlmsgHdrLen+ifinfomsgLen) > len(b) {
			t.Fatalf("%d updates from %d bytes", len(got), len(b))
		}
	})
}
