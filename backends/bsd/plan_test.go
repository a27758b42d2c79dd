// SPDX-License-Identifier: MIT

package bsd

import "testing"

func TestPlanTun(t *testing.T) {
	cases := []struct {
		goos, name string
		want       tunPlan
		ok         bool
	}{
		{"darwin", "utun", tunPlan{}, true},
		{"darwin", "utun0", tunPlan{utunUnit: 1}, true},
		{"darwin", "utun7", tunPlan{utunUnit: 8}, true},
		{"darwin", "utun07", tunPlan{}, false},
		{"darwin", "wg0", tunPlan{}, false},
		{"darwin", "tun0", tunPlan{}, false},
		{"freebsd", "tun3", tunPlan{path: "/dev/tun3"}, true},
		{"freebsd", "tun", tunPlan{path: "/dev/tun"}, true},
		{"freebsd", "wg0", tunPlan{path: "/dev/tun", rename: "wg0"}, true},
		{"freebsd", "0wg", tunPlan{}, false},
		{"freebsd", "tun01", tunPlan{path: "/dev/tun", rename: "tun01"}, true},
		{"netbsd", "tun0", tunPlan{path: "/dev/tun0"}, true},
		{"netbsd", "wg0", tunPlan{}, false},
		{"openbsd", "tun12", tunPlan{path: "/dev/tun12"}, true},
		{"openbsd", "tun", tunPlan{}, false},
		{"openbsd", "tunx", tunPlan{}, false},
		{"freebsd", "", tunPlan{}, false},
		{"freebsd", "a/b", tunPlan{}, false},
		{"freebsd", "abcdefghijklmnop", tunPlan{}, false}, // 16 bytes: no room for NUL
		{"freebsd", "abcdefghijklmno", tunPlan{path: "/dev/tun", rename: "abcdefghijklmno"}, true},
		{"linux", "tun0", tunPlan{}, false},
		{"darwin", "utun99999999999", tunPlan{}, false},
	}
	for _, c := range cases {
		got, err := planTun(c.goos, c.name)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("planTun(%q, %q) = %+v, %v; want %+v, ok=%v", c.goos, c.name, got, err, c.want, c.ok)
		}
	}
}

func TestIoctlNumbers(t *testing.T) {
	// Values as the C headers expand them.
	cases := []struct {
		name string
		got  uint
		want uint
	}{
		{"FreeBSD TUNSIFHEAD", freebsdTUNSIFHEAD, 0x80047460},
		{"FreeBSD TUNSIFMODE", freebsdTUNSIFMODE, 0x8004745e},
		{"FreeBSD TUNGIFNAME", freebsdTUNGIFNAME, 0x4020745d},
		{"NetBSD TUNSIFHEAD", netbsdTUNSIFHEAD, 0x80047442},
		{"NetBSD TUNSIFMODE", netbsdTUNSIFMODE, 0x80047458},
		{"OpenBSD TUNSIFMODE", openbsdTUNSIFMODE, 0x8004745d},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	// The size of struct ifreq as SIOCGIFMTU encodes it on each system.
	for req, want := range map[uint]int{
		0xc0206933: 32,  // FreeBSD, macOS
		0xc020697e: 32,  // OpenBSD
		0xc090697e: 144, // NetBSD
	} {
		if got := ioctlParamLen(req); got != want {
			t.Errorf("ioctlParamLen(%#x) = %d, want %d", req, got, want)
		}
	}
}

func TestIfreq(t *testing.T) {
	if _, err := newIfreq(32, "abcdefghijklmnop"); err == nil {
		t.Error("newIfreq accepted a 16-byte name")
	}
	r, err := newIfreq(144, "tun3")
	if err != nil {
		t.Fatal(err)
	}
	if len(r) != 144 || r.name() != "tun3" {
		t.Errorf("ifreq = %d bytes named %q", len(r), r.name())
	}
	r.setInt32(1420)
	if r.int32() != 1420 {
		t.Errorf("int32 after setInt32(1420) = %d", r.int32())
	}
	r.setInt32(0x8043) // IFF_UP|IFF_RUNNING|... in the low short
	if r.flags() != 0x8043 {
		t.Errorf("flags = %#x", r.flags())
	}
	full := make(ifreq, 32)
	copy(full, "abcdefghijklmnop")
	if full.name() != "abcdefghijklmnop" {
		t.Errorf("name without NUL = %q", full.name())
	}
}
