// SPDX-License-Identifier: MIT

package bsd

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// layouts are the four systems' routing-message layouts with the sizes
// their kernels give the two messages (sizeof(struct if_msghdr) and
// sizeof(struct if_announcemsghdr) on amd64).
var layouts = []struct {
	name       string
	l          *rtLayout
	infoLen    int
	announceLn int
}{
	{"darwin", &rtDarwin, 0x70, 0},
	{"freebsd", &rtFreeBSD, 0xa8, 0x18},
	{"netbsd", &rtNetBSD, 0x98, 0x18},
	{"openbsd", &rtOpenBSD, 0xa8, 0x1a},
}

// ifInfoMsg builds an RTM_IFINFO message of size bytes as the kernel of
// layout l would.
func ifInfoMsg(l *rtLayout, size int, index uint16, flags uint32, mtu uint32) []byte {
	m := make([]byte, size)
	binary.NativeEndian.PutUint16(m, uint16(size))
	m[2], m[3] = l.version, l.ifInfo
	binary.NativeEndian.PutUint16(m[l.ifmIndex:], index)
	binary.NativeEndian.PutUint32(m[l.ifmFlags:], flags)
	if l.mtu64 {
		binary.NativeEndian.PutUint64(m[l.ifmMTU:], uint64(mtu))
	} else {
		binary.NativeEndian.PutUint32(m[l.ifmMTU:], mtu)
	}
	return m
}

// announceMsg builds an RTM_IFANNOUNCE message.
func announceMsg(l *rtLayout, size int, index, what uint16) []byte {
	m := make([]byte, size)
	binary.NativeEndian.PutUint16(m, uint16(size))
	m[2], m[3] = l.version, l.ifAnnounce
	binary.NativeEndian.PutUint16(m[l.annIndex:], index)
	binary.NativeEndian.PutUint16(m[l.annWhat:], what)
	return m
}

func concat(ms ...[]byte) []byte {
	var b []byte
	for _, m := range ms {
		b = append(b, m...)
	}
	return b
}

func TestParseRouteMessages(t *testing.T) {
	for _, lc := range layouts {
		t.Run(lc.name, func(t *testing.T) {
			l := lc.l
			if lc.infoLen < l.ifInfoMin() {
				t.Fatalf("layout needs %d bytes, the kernel sends %d", l.ifInfoMin(), lc.infoLen)
			}
			up := ifInfoMsg(l, lc.infoLen, 7, 0x8843, 1420)
			down := ifInfoMsg(l, lc.infoLen, 7, 0x8842, 1280)
			other := ifInfoMsg(l, lc.infoLen, 3, 0x1, 9000)
			oldVersion := ifInfoMsg(l, lc.infoLen, 7, 0x1, 1)
			oldVersion[2]--
			otherType := ifInfoMsg(l, lc.infoLen, 7, 0x1, 1)
			otherType[3] = 0x1 // RTM_ADD
			short := ifInfoMsg(l, lc.infoLen, 7, 0x1, 1)[:l.ifInfoMin()-1]
			binary.NativeEndian.PutUint16(short, uint16(len(short)))

			msgs := [][]byte{up, oldVersion, otherType, short, other, down}
			want := []linkUpdate{
				{index: 7, up: true, mtu: 1420},
				{index: 3, up: true, mtu: 9000},
				{index: 7, up: false, mtu: 1280},
			}
			if lc.announceLn > 0 {
				msgs = append(msgs,
					announceMsg(l, lc.announceLn, 7, 0), // arrival: ignored
					announceMsg(l, lc.announceLn, 7, 1)) // departure
				want = append(want, linkUpdate{index: 7, departed: true})
			}
			got, err := parseRouteMessages(nil, concat(msgs...), l)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}

			// One message per read, as a routing socket delivers them.
			var one []linkUpdate
			for _, m := range msgs {
				if one, err = parseRouteMessages(one, m, l); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(one, want) {
				t.Errorf("one at a time: got %+v", one)
			}
		})
	}
}

func TestParseRouteMessagesFraming(t *testing.T) {
	l := &rtFreeBSD
	good := ifInfoMsg(l, 0xa8, 5, 1, 1500)
	cases := []struct {
		name string
		b    []byte
		n    int // updates parsed before the error
	}{
		{"short header", []byte{4, 0, 5}, 0},
		{"length below header", []byte{2, 0, 5, 0xe}, 0},
		{"length past end", good[:0xa0], 0},
		{"good then truncated", concat(good, good[:10]), 1},
		{"good then zero length", concat(good, []byte{0, 0, 5, 0xe}), 1},
	}
	for _, c := range cases {
		got, err := parseRouteMessages(nil, c.b, l)
		if !errors.Is(err, ErrBadRouteMessage) || len(got) != c.n {
			t.Errorf("%s: %d updates, %v; want %d and ErrBadRouteMessage", c.name, len(got), err, c.n)
		}
	}
	if got, err := parseRouteMessages(nil, nil, l); err != nil || len(got) != 0 {
		t.Errorf("empty input: %v, %v", got, err)
	}
}

func TestParseRouteMessagesNetBSDHugeMTU(t *testing.T) {
	m := ifInfoMsg(&rtNetBSD, 0x98, 1, 1, 0)
	binary.NativeEndian.PutUint64(m[rtNetBSD.ifmMTU:], 1<<40)
	got, err := parseRouteMessages(nil, m, &rtNetBSD)
	if err != nil || len(got) != 1 || got[0].mtu != 1<<32-1 {
		t.Errorf("got %+v, %v; want the MTU clamped", got, err)
	}
}

func TestDarwinHasNoAnnouncements(t *testing.T) {
	// A message with type 0 must not be taken for an announcement on a
	// system without them.
	m := []byte{8, 0, rtDarwin.version, 0, 1, 0, 1, 0}
	got, err := parseRouteMessages(nil, m, &rtDarwin)
	if err != nil || len(got) != 0 {
		t.Errorf("got %+v, %v", got, err)
	}
}

// FuzzParseRouteMessages feeds arbitrary bytes to the parser under each
// system's layout. It must not panic, must consume framing consistently
// (parsing the messages one by one gives the same result), and cannot
// report more updates than there are messages.
func FuzzParseRouteMessages(f *testing.F) {
	for i, lc := range layouts {
		f.Add(ifInfoMsg(lc.l, lc.infoLen, 1, 1, 1420), uint8(i))
		if lc.announceLn > 0 {
			f.Add(announceMsg(lc.l, lc.announceLn, 1, 1), uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		l := layouts[int(which)%len(layouts)].l
		got, err := parseRouteMessages(nil, b, l)
		if len(got) > len(b)/rtmHeaderLen {
			t.Fatalf("%d updates from %d bytes", len(got), len(b))
		}
		var one []linkUpdate
		rest := b
		for len(rest) >= rtmHeaderLen {
			n := int(binary.NativeEndian.Uint16(rest))
			if n < rtmHeaderLen || n > len(rest) {
				break
			}
			var perr error
			if one, perr = parseRouteMessages(one, rest[:n], l); perr != nil {
				t.Fatalf("a single framed message failed: %v", perr)
			}
			rest = rest[n:]
		}
		if (len(rest) == 0) != (err == nil) {
			t.Fatalf("framing disagreement: rest %d bytes, err %v", len(rest), err)
		}
		if !reflect.DeepEqual(got, one) && !(len(got) == 0 && len(one) == 0) {
			t.Fatalf("whole %+v, one by one %+v", got, one)
		}
	})
}
