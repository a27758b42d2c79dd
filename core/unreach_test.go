// SPDX-License-Identifier: MIT

package core_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// A packet no peer accepts comes back out of the device as an ICMP host
// unreachable (ICMPv6 address unreachable) from the address it was sent
// to, unless the option turns that off.
func TestUnreachableWrittenBackIntoDevice(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, _, _ := pair(t, clock, false)
	v4 := ipPacket(a.Inner, netip.MustParseAddr("10.99.0.1"), []byte("no peer"))
	a.Dev.Inject(v4)
	got := recvPacket(t, a.Dev)
	if len(got) < 28 || got[9] != 1 || got[20] != 3 || got[21] != 1 ||
		netip.AddrFrom4([4]byte(got[12:16])) != netip.MustParseAddr("10.99.0.1") ||
		netip.AddrFrom4([4]byte(got[16:20])) != a.Inner {
		t.Fatalf("not an ICMP host unreachable from 10.99.0.1 to %v: % x", a.Inner, got)
	}
	v6 := ipPacket(netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00:99::1"), []byte("no peer"))
	a.Dev.Inject(v6)
	got = recvPacket(t, a.Dev)
	if len(got) < 48 || got[6] != 58 || got[40] != 1 || got[41] != 3 {
		t.Fatalf("not an ICMPv6 address unreachable: % x", got)
	}
	if d := a.Tunnel.Stats().Drops[core.DropNoPeer]; d != 2 {
		t.Fatalf("no_peer drops = %d, want 2", d)
	}

	nw := coretest.NewMemNetwork()
	dev := coretest.NewMemDevice("wgt", 1420)
	tun, err := core.NewTunnel(core.Options{Device: dev, Bind: nw.NewBind(netip.MustParseAddr("192.0.2.5")), Clock: clock, NoICMPUnreachable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	key := mustKey(t)
	if err := tun.Apply(core.Config{PrivateKey: &key}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", tun.IsUp)
	dev.Inject(v4)
	waitFor(t, "the drop", func() bool { return tun.Stats().Drops[core.DropNoPeer] == 1 })
	expectNoPacket(t, dev, 50*time.Millisecond)
}

func recvPacket(t *testing.T, dev *coretest.MemDevice) []byte {
	t.Helper()
	select {
	case p := <-dev.Outbound():
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("nothing came out of the device")
		return nil
	}
}
