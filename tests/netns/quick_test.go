// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers for the tests of `wgplex up` and `wgplex down` (up_test.go).

// stateDir is where `wgplex up` records what it changed.
const stateDir = "/run/wgplex"

// quickLab is a namespace Q where `wgplex up` runs, joined by a veth pair
// (ul0 on both sides) to a namespace P with a wireguard-go peer. With
// subnet n, the underlay is 10.213.n.0/24 and fd00:213:n::/64 (Q .1, P .2),
// the tunnel 10.214.n.0/24 and fd00:214:n::/64 (Q .1, P .2), and P holds a
// third address on its loopback, 10.214.(n+100).1 and fd00:214:(n+100)::1,
// which Q can reach only through the tunnel or a default route.
type quickLab struct {
	t      *testing.T
	bin    string
	Q, P   *Netns
	peer   *Daemon
	qKey   Key
	pKey   Key
	n      int
	Iface  string
	logDir string
}

// newQuickLab builds the lab. The wgplex interface name is fresh and
// unique across the host (sockets and state files are not per namespace);
// whatever `wgplex up` leaves behind is taken down when the test ends.
func newQuickLab(t *testing.T, n int) *quickLab {
	t.Helper()
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skip("wgplex up/down are wgplex's own commands")
	}
	ref := implReference(t)
	l := &quickLab{t: t, bin: impl.Bin, n: n, logDir: t.TempDir()}
	l.Q, l.P = NewNetns(t), NewNetns(t)
	Veth(t, l.Q, "ul0", l.P, "ul0")
	l.Q.AddAddr("ul0", l.addr(213, 1)+"/24")
	l.Q.AddAddr("ul0", l.addr6(213, 1)+"/64")
	l.P.AddAddr("ul0", l.addr(213, 2)+"/24")
	l.P.AddAddr("ul0", l.addr6(213, 2)+"/64")
	l.P.AddAddr("lo", l.Third()+"/32")
	l.P.AddAddr("lo", l.Third6()+"/128")

	l.qKey, l.pKey = GenKey(t), GenKey(t)
	l.peer = StartDaemon(t, l.P, ref)
	l.peer.SetConf(fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51002

[Peer]
PublicKey = %s
AllowedIPs = %s/32, %s/128
`, l.pKey.Private, l.qKey.Public, l.addr(214, 1), l.addr6(214, 1)))
	l.peer.Up(l.addr(214, 2)+"/24", l.addr6(214, 2)+"/64")

	l.Iface = "wgpxu" + uniqueID()
	for fileExists(SocketPath(l.Iface)) || fileExists(l.StatePath()) {
		l.Iface = "wgpxu" + uniqueID()
	}
	t.Cleanup(l.cleanup)
	return l
}

func (l *quickLab) addr(net, host int) string { return fmt.Sprintf("10.%d.%d.%d", net, l.n, host) }
func (l *quickLab) addr6(net, host int) string {
	return fmt.Sprintf("fd00:%d:%d::%d", net, l.n, host)
}

// Third is P's loopback address that only a route through the tunnel (or
// a default route) reaches.
func (l *quickLab) Third() string { return fmt.Sprintf("10.214.%d.1", l.n+100) }

// Third6 is Third's IPv6 twin.
func (l *quickLab) Third6() string { return fmt.Sprintf("fd00:214:%d::1", l.n+100) }

// StatePath is where `wgplex up` records the lab's interface.
func (l *quickLab) StatePath() string { return filepath.Join(stateDir, l.Iface+".state") }

// Conf writes the lab's configuration for Q, named after the interface:
// the key, port 51001, the extra [Interface] lines, and P as the peer with
// the given allowed IPs and P's underlay address as endpoint.
func (l *quickLab) Conf(extra, allowed string) string {
	l.t.Helper()
	return writeTemp(l.t, l.Iface+".conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51001
%s
[Peer]
PublicKey = %s
AllowedIPs = %s
Endpoint = %s:51002
`, l.qKey.Private, extra, l.pKey.Public, allowed, l.addr(213, 2)))
}

// Wgplex runs wgplex with args in ns (with env, e.g. "PATH=..."), and
// returns its output. The output goes through a file: a daemon that
// detaches must not keep a pipe of ours open.
func (l *quickLab) Wgplex(ns *Netns, env []string, args ...string) (string, error) {
	log, err := os.CreateTemp(l.logDir, "wgplex-*.log")
	if err != nil {
		l.t.Fatal(err)
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*cmdTimeout)
	defer cancel()
	argv := append(append([]string{"env"}, env...), append([]string{l.bin}, args...)...)
	cmd := ns.Command(ctx, argv...)
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Run()
	out, _ := os.ReadFile(log.Name())
	return string(out), err
}

// MustWgplex is Wgplex that fails the test on error.
func (l *quickLab) MustWgplex(ns *Netns, args ...string) string {
	l.t.Helper()
	out, err := l.Wgplex(ns, nil, args...)
	if err != nil {
		l.t.Fatalf("wgplex %s in %s: %v\n%s", strings.Join(args, " "), ns.Name, err, out)
	}
	return out
}

// cleanup takes the interface down if a test left it up, so that no state
// file, socket or daemon outlives the test. The namespaces' own cleanups
// kill what is left in them.
func (l *quickLab) cleanup() {
	if fileExists(l.StatePath()) {
		var st struct{ Config string }
		data, _ := os.ReadFile(l.StatePath())
		if json.Unmarshal(data, &st) == nil && st.Config != "" {
			conf := st.Config
			for _, ns := range []*Netns{l.Q, l.P} {
				if out, err := l.Wgplex(ns, nil, "down", conf); err == nil {
					break
				} else if l.t.Failed() {
					l.t.Logf("cleanup: wgplex down %s in %s: %v\n%s", conf, ns.Name, err, out)
				}
			}
		}
		os.Remove(l.StatePath())
	}
	os.Remove(SocketPath(l.Iface))
}

// HostDump is what `down` must leave exactly as it found it: addresses,
// routes of every table, rules, for both families, and the sysctl the
// default-route arrangement turns on.
func HostDump(t testing.TB, ns *Netns) string {
	t.Helper()
	var b strings.Builder
	for _, argv := range [][]string{
		{"ip", "addr"}, {"ip", "route", "show", "table", "all"}, {"ip", "rule"},
		{"ip", "-6", "addr"}, {"ip", "-6", "route", "show", "table", "all"}, {"ip", "-6", "rule"},
		{"cat", "/proc/sys/net/ipv4/conf/all/src_valid_mark"},
	} {
		fmt.Fprintf(&b, "$ %s\n%s", strings.Join(argv, " "), ns.MustRun(argv...))
	}
	return b.String()
}

// Settle waits until no address in ns is still under duplicate address
// detection (a veth's link-local address is, for a second or two), so
// that a dump taken now does not change by itself later.
func Settle(t testing.TB, ns *Netns) {
	t.Helper()
	Eventually(t, 10*time.Second, "IPv6 addresses in "+ns.Name+" to leave the tentative state", func() (bool, string) {
		out := ns.MustRun("ip", "-6", "addr")
		return !strings.Contains(out, "tentative"), out
	})
}

// SameDump fails the test if ns does not dump as before.
func SameDump(t testing.TB, ns *Netns, before, when string) {
	t.Helper()
	if after := HostDump(t, ns); after != before {
		t.Errorf("%s: %s changed\n--- before\n%s--- after\n%s", when, ns.Name, before, after)
	}
}

// NoTrace checks that nothing of iface is left: no interface in any of
// namespaces, no UAPI socket, no state file.
func NoTrace(t testing.TB, iface string, namespaces ...*Netns) {
	t.Helper()
	Eventually(t, 5*time.Second, iface+" to be gone", func() (bool, string) {
		var left []string
		for _, ns := range namespaces {
			if _, err := ns.Run("ip", "link", "show", iface); err == nil {
				left = append(left, "interface in "+ns.Name)
			}
		}
		if fileExists(SocketPath(iface)) {
			left = append(left, "socket "+SocketPath(iface))
		}
		if p := filepath.Join(stateDir, iface+".state"); fileExists(p) {
			left = append(left, "state file "+p)
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
}
