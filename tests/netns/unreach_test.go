// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"strings"
	"testing"
)

// TestUnreachableWithoutPeer routes a prefix into the interface that no
// peer's allowed IPs cover. As with the kernel's WireGuard, ping must fail
// at once with an ICMP destination unreachable (host unreachable for IPv4,
// address unreachable for IPv6) instead of waiting out its timeout; with
// WGPLEX_ICMP_UNREACHABLE=off it must get no answer at all.
func TestUnreachableWithoutPeer(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skipf("%s writes no ICMP errors for packets without a peer", impl.Name)
	}
	for _, off := range []bool{false, true} {
		t.Run(map[bool]string{false: "on", true: "off"}[off], func(t *testing.T) {
			ns := NewNetns(t)
			var env []string
			if off {
				env = []string{"WGPLEX_ICMP_UNREACHABLE=off"}
			}
			d := startDaemonArgs(t, ns, impl, env)
			d.SetConf("[Interface]\nPrivateKey = " + GenKey(t).Private + "\n\n[Peer]\nPublicKey = " + GenKey(t).Public + "\nAllowedIPs = 10.214.5.2/32\n")
			d.Up("10.214.5.1/24", "fd00:214:5::1/64")
			ns.MustRun("ip", "route", "add", "10.214.77.0/24", "dev", d.Iface)
			ns.MustRun("ip", "-6", "route", "add", "fd00:214:77::/64", "dev", d.Iface)
			for _, tc := range []struct{ addr, want string }{
				{"10.214.77.1", "Destination Host Unreachable"},
				{"fd00:214:77::1", "Address unreachable"},
			} {
				// -W 3: without an ICMP answer ping waits the full 3 s and
				// reports only loss; with one it prints the error.
				out, err := ns.Run("ping", "-n", "-c", "2", "-i", "0.2", "-W", "3", tc.addr)
				if err == nil {
					t.Fatalf("ping %s succeeded:\n%s", tc.addr, out)
				}
				if got := strings.Contains(out, tc.want); got == off {
					t.Fatalf("ping %s (ICMP unreachable off=%v): want %q present=%v:\n%s", tc.addr, off, tc.want, !off, out)
				}
			}
		})
	}
}
