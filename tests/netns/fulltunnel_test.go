// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestUpFullTunnelFirewall brings up a full tunnel with `wgplex up` whose
// peer endpoint lies behind the main default route (not on a connected
// subnet), under reverse-path filtering off, strict and loose. With
// strict filtering the peer's answers arrive on the underlay from an
// address whose unmarked route back is the tunnel; only the mark copied
// through conntrack lets them in (without it the pings fail under
// rp_filter=1 and the kernel counts IPReversePathFilter drops). IPv4 and IPv6 pings must pass through
// the tunnel; a LAN neighbour's ping to the tunnel address over the
// underlay (CVE-2019-14899) must go unanswered; `wgplex down` must leave
// routes, rules, sysctls and the nftables ruleset as they were.
func TestUpFullTunnelFirewall(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		msg := "nft(8) is needed to compare the ruleset (scripts/test.sh installs nftables)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for i, rp := range []int{0, 1, 2} {
		t.Run(fmt.Sprintf("rp_filter=%d", rp), func(t *testing.T) {
			l := newQuickLab(t, 46+i)
			endpoint, endpoint6 := fmt.Sprintf("10.216.%d.2", l.n), fmt.Sprintf("fd00:216:%d::2", l.n)
			l.P.AddAddr("lo", endpoint+"/32")
			l.P.AddAddr("lo", endpoint6+"/128")
			// The peer must answer from the address it was written to, as
			// the kernel does: an answer from its underlay address (as
			// wireguard-go gave here) makes Q roam onto the connected
			// subnet, where reverse-path filtering passes anyway and the
			// test would prove nothing. wgplex keeps the sticky source.
			old := l.peer
			l.P.MustRun("ip", "link", "del", old.Iface)
			Eventually(t, 10*time.Second, "the lab's peer to exit", func() (bool, string) { return old.Exited(), "running" })
			l.peer = StartDaemon(t, l.P, implUnderTest(t))
			l.peer.SetConf(fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 51002\n\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32, %s/128\n",
				l.pKey.Private, l.qKey.Public, l.addr(214, 1), l.addr6(214, 1)))
			l.peer.Up(l.addr(214, 2)+"/24", l.addr6(214, 2)+"/64")
			l.Q.MustRun("ip", "route", "add", "default", "via", l.addr(213, 2), "dev", "ul0")
			l.Q.MustRun("ip", "-6", "route", "add", "default", "via", l.addr6(213, 2), "dev", "ul0")
			for _, conf := range []string{"all", "default", "ul0"} {
				l.Q.MustRun("sysctl", "-q", "-w", fmt.Sprintf("net.ipv4.conf.%s.rp_filter=%d", conf, rp))
			}
			Settle(t, l.Q)
			before := HostDump(t, l.Q)
			rulesBefore := l.Q.MustRun("nft", "list", "ruleset")

			conf := writeTemp(t, l.Iface+".conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51001
Address = %s/24, %s/64

[Peer]
PublicKey = %s
AllowedIPs = 0.0.0.0/0, ::/0
Endpoint = %s:51002
`, l.qKey.Private, l.addr(214, 1), l.addr6(214, 1), l.pKey.Public, endpoint))
			t.Logf("wgplex up:\n%s", l.MustWgplex(l.Q, "up", conf))
			for _, fam := range []string{"ip", "ip6"} {
				if out, err := l.Q.Run("nft", "list", "table", fam, "wgplex-"+l.Iface); err != nil {
					t.Fatalf("no %s table after up: %v\n%s", fam, err, out)
				} else if !strings.Contains(out, "ct mark set") || !strings.Contains(out, "fib saddr type != local drop") {
					t.Fatalf("%s table lacks the rules:\n%s", fam, out)
				}
			}

			Ping(t, l.Q, l.Third(), 3)
			Ping(t, l.Q, l.Third6(), 3)
			l.peer.WaitHandshake(l.qKey.Public, 5*time.Second)

			// The LAN neighbour (P) routes Q's tunnel addresses over the
			// underlay. Q's underlay address answers it (the path works);
			// the tunnel addresses must not.
			l.P.MustRun("ip", "route", "add", l.addr(214, 1)+"/32", "via", l.addr(213, 1), "dev", "ul0")
			l.P.MustRun("ip", "-6", "route", "add", l.addr6(214, 1)+"/128", "via", l.addr6(213, 1), "dev", "ul0")
			if r := l.P.MustRun("ip", "route", "get", l.addr(214, 1)); !strings.Contains(r, "dev ul0") {
				t.Fatalf("probe would not use the underlay: %s", r)
			}
			Ping(t, l.P, l.addr(213, 1), 1)
			for _, tunnelAddr := range []string{l.addr(214, 1), l.addr6(214, 1)} {
				if out, err := l.P.Run("ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", tunnelAddr); err == nil {
					t.Errorf("the tunnel address %s answered over the underlay:\n%s", tunnelAddr, out)
				}
			}
			l.P.MustRun("ip", "route", "del", l.addr(214, 1)+"/32")
			l.P.MustRun("ip", "-6", "route", "del", l.addr6(214, 1)+"/128")

			t.Logf("wgplex down:\n%s", l.MustWgplex(l.Q, "down", conf))
			NoTrace(t, l.Iface, l.Q)
			SameDump(t, l.Q, before, "after wgplex down")
			if after := l.Q.MustRun("nft", "list", "ruleset"); after != rulesBefore {
				t.Errorf("nftables ruleset changed by up+down\n--- before\n%s--- after\n%s", rulesBefore, after)
			}
		})
	}
}
