// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUpFullTunnel brings up a full-tunnel configuration (0.0.0.0/0, ::/0)
// with `wgplex up` in a namespace that also has default routes over the
// underlay, and checks the fwmark arrangement: traffic to a third address
// goes through the tunnel, the peer's endpoint stays on the underlay (no
// loop: the handshake and the pings succeed), and `wgplex down` leaves
// addresses, routes of every table, rules and the sysctl as they were.
func TestUpFullTunnel(t *testing.T) {
	l := newQuickLab(t, 40)
	// Without the policy routing, these would take the tunnel's own
	// packets; with it, they must not matter.
	l.Q.MustRun("ip", "route", "add", "default", "via", l.addr(213, 2), "dev", "ul0")
	l.Q.MustRun("ip", "-6", "route", "add", "default", "via", l.addr6(213, 2), "dev", "ul0")
	Settle(t, l.Q)
	before := HostDump(t, l.Q)

	conf := l.Conf(fmt.Sprintf("Address = %s/24, %s/64\n", l.addr(214, 1), l.addr6(214, 1)), "0.0.0.0/0, ::/0")
	out := l.MustWgplex(l.Q, "up", conf)
	t.Logf("wgplex up:\n%s", out)

	rules := l.Q.MustRun("ip", "rule") + l.Q.MustRun("ip", "-6", "rule")
	for _, want := range []string{"not from all fwmark 0xca6c lookup 51820", "from all lookup main suppress_prefixlength 0"} {
		if strings.Count(rules, want) != 2 {
			t.Errorf("want %q once per family in the rules:\n%s", want, rules)
		}
	}
	if got := strings.TrimSpace(l.Q.MustRun("cat", "/proc/sys/net/ipv4/conf/all/src_valid_mark")); got != "1" {
		t.Errorf("src_valid_mark = %s, want 1", got)
	}
	if fw := l.Q.MustRun("wg", "show", l.Iface, "fwmark"); strings.TrimSpace(fw) != "0xca6c" {
		t.Errorf("fwmark = %q, want 0xca6c", fw)
	}
	for _, dst := range []string{l.Third(), l.Third6()} {
		if r := l.Q.MustRun("ip", "route", "get", dst); !strings.Contains(r, "dev "+l.Iface) {
			t.Errorf("route to %s does not use the tunnel: %s", dst, r)
		}
	}
	// The tunnel's own packets carry the mark and stay on the underlay.
	if r := l.Q.MustRun("ip", "route", "get", l.addr(213, 2), "mark", "51820"); !strings.Contains(r, "dev ul0") {
		t.Errorf("marked route to the endpoint does not use the underlay: %s", r)
	}

	rx0, _ := l.peer.Transfer(l.qKey.Public)
	Ping(t, l.Q, l.Third(), 5)
	Ping(t, l.Q, l.Third6(), 5)
	Ping(t, l.Q, l.addr(214, 2), 2)
	l.peer.WaitHandshake(l.qKey.Public, 5*time.Second)
	rx1, _ := l.peer.Transfer(l.qKey.Public)
	// 10 echo requests of 84 or 104 bytes, each with 32 bytes of WireGuard
	// overhead, reached the peer through the tunnel.
	if rx1-rx0 < 10*(84+32) {
		t.Errorf("the peer received %d bytes through the tunnel during the pings, want at least %d", rx1-rx0, 10*(84+32))
	}

	t.Logf("wgplex down:\n%s", l.MustWgplex(l.Q, "down", conf))
	NoTrace(t, l.Iface, l.Q)
	SameDump(t, l.Q, before, "after wgplex down")
}

// TestUpAddressMTUTable covers the [Interface] keys that shape the host
// side: Address, MTU (given, and worked out from the route to the
// endpoint), and Table auto, off and a number. Each case is brought up and
// down and must leave the namespace as it was.
func TestUpAddressMTUTable(t *testing.T) {
	l := newQuickLab(t, 41)
	// A smaller underlay MTU makes the automatic value tell.
	l.Q.MustRun("ip", "link", "set", "ul0", "mtu", "1400")
	Settle(t, l.Q)
	before := HostDump(t, l.Q)
	address := fmt.Sprintf("Address = %s/24, %s/64\n", l.addr(214, 1), l.addr6(214, 1))
	thirdNet := fmt.Sprintf("10.214.%d.0/24", l.n+100)
	allowed := fmt.Sprintf("%s/32, %s, fd00:214:%d::/64", l.addr(214, 2), thirdNet, l.n+100)

	for _, tc := range []struct {
		name   string
		extra  string
		allow  string
		mtu    int
		check  func(t *testing.T, routes string)
		reachy bool // the third address is reachable through the tunnel
	}{
		{name: "auto", extra: address, allow: allowed, mtu: 1400 - 80, reachy: true, check: func(t *testing.T, routes string) {
			// The /32 is covered by the address's own route; the others
			// get routes in the main table.
			for _, want := range []string{thirdNet + " dev " + l.Iface, fmt.Sprintf("fd00:214:%d::/64 dev %s", l.n+100, l.Iface)} {
				if !strings.Contains(routes, want) {
					t.Errorf("no route %q:\n%s", want, routes)
				}
			}
			if strings.Contains(routes, l.addr(214, 2)+" dev") {
				t.Errorf("a route for the /32 the address already covers:\n%s", routes)
			}
		}},
		{name: "mtu", extra: address + "MTU = 1380\n", allow: allowed, mtu: 1380, reachy: true},
		{name: "off", extra: address + "Table = off\n", allow: allowed, mtu: 1320, check: func(t *testing.T, routes string) {
			for _, line := range strings.Split(strings.TrimSpace(routes), "\n") {
				if strings.Contains(line, "dev "+l.Iface) && !strings.Contains(line, "proto kernel") && !strings.HasPrefix(line, "multicast") &&
					!strings.HasPrefix(line, "local ") {
					t.Errorf("Table = off, yet a route was added: %s", line)
				}
			}
		}},
		{name: "table1234", extra: address + "Table = 1234\n", allow: "0.0.0.0/0, ::/0", mtu: 1320, check: func(t *testing.T, routes string) {
			t4 := l.Q.MustRun("ip", "route", "show", "table", "1234")
			t6 := l.Q.MustRun("ip", "-6", "route", "show", "table", "1234")
			if !strings.Contains(t4, "default dev "+l.Iface) || !strings.Contains(t6, "default dev "+l.Iface) {
				t.Errorf("table 1234 lacks the default routes:\n%s%s", t4, t6)
			}
			if r := l.Q.MustRun("ip", "rule") + l.Q.MustRun("ip", "-6", "rule"); strings.Contains(r, "fwmark") || strings.Contains(r, "suppress") {
				t.Errorf("a numbered table needs no rules, yet:\n%s", r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := l.Conf(tc.extra, tc.allow)
			l.MustWgplex(l.Q, "up", conf)
			if got := strings.TrimSpace(l.Q.MustRun("cat", "/sys/class/net/"+l.Iface+"/mtu")); got != strconv.Itoa(tc.mtu) {
				t.Errorf("MTU = %s, want %d", got, tc.mtu)
			}
			addrs := l.Q.MustRun("ip", "addr", "show", "dev", l.Iface)
			for _, want := range []string{"inet " + l.addr(214, 1) + "/24", "inet6 " + l.addr6(214, 1) + "/64"} {
				if !strings.Contains(addrs, want) {
					t.Errorf("%s lacks %q:\n%s", l.Iface, want, addrs)
				}
			}
			if tc.check != nil {
				tc.check(t, l.Q.MustRun("ip", "route", "show", "table", "all")+l.Q.MustRun("ip", "-6", "route", "show", "table", "all"))
			}
			Ping(t, l.Q, l.addr(214, 2), 2)
			if tc.reachy {
				Ping(t, l.Q, l.Third(), 2)
				Ping(t, l.Q, l.Third6(), 2)
			}
			l.MustWgplex(l.Q, "down", conf)
			NoTrace(t, l.Iface, l.Q)
			SameDump(t, l.Q, before, "after wgplex down")
		})
	}
}

// TestUpHooksSaveConfig runs the four hooks (with %i) in order, and checks
// SaveConfig: down writes back what the interface has then (a peer setting
// and an address added while it was up), mode 0600, keeps the wg-quick keys,
// and the written file brings the same interface up again and saves to the
// same bytes.
func TestUpHooksSaveConfig(t *testing.T) {
	l := newQuickLab(t, 42)
	Settle(t, l.Q)
	before := HostDump(t, l.Q)
	hookLog := filepath.Join(t.TempDir(), "hooks.log")
	extra := fmt.Sprintf(`Address = %s/24
PreUp = echo pre-up %%i >> %[2]s
PostUp = echo post-up %%i >> %[2]s
PreDown = echo pre-down %%i >> %[2]s
PostDown = echo post-down %%i >> %[2]s
SaveConfig = true
`, l.addr(214, 1), hookLog)
	conf := l.Conf(extra, l.addr(214, 2)+"/32")
	l.MustWgplex(l.Q, "up", conf)
	Ping(t, l.Q, l.addr(214, 2), 2)
	l.MustWgplex(l.Q, "set", l.Iface, "peer", l.pKey.Public, "persistent-keepalive", "25")
	l.Q.MustRun("ip", "addr", "add", l.addr(214, 77)+"/32", "dev", l.Iface)
	l.MustWgplex(l.Q, "down", conf)
	NoTrace(t, l.Iface, l.Q)
	SameDump(t, l.Q, before, "after the first down")

	hooks, err := os.ReadFile(hookLog)
	if err != nil {
		t.Fatal(err)
	}
	wantHooks := fmt.Sprintf("pre-up %[1]s\npost-up %[1]s\npre-down %[1]s\npost-down %[1]s\n", l.Iface)
	if string(hooks) != wantHooks {
		t.Errorf("hooks ran as\n%s\nwant\n%s", hooks, wantHooks)
	}

	st, err := os.Stat(conf)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("saved file mode %v, want 0600", st.Mode().Perm())
	}
	saved, _ := os.ReadFile(conf)
	for _, want := range []string{
		"ListenPort = 51001\n",
		"PrivateKey = " + l.qKey.Private + "\n",
		fmt.Sprintf("Address = %s/24, %s/32\n", l.addr(214, 1), l.addr(214, 77)),
		fmt.Sprintf("PreUp = echo pre-up %%i >> %s\n", hookLog),
		fmt.Sprintf("PostDown = echo post-down %%i >> %s\n", hookLog),
		"SaveConfig = true\n",
		"PublicKey = " + l.pKey.Public + "\n",
		"AllowedIPs = " + l.addr(214, 2) + "/32\n",
		"Endpoint = " + l.addr(213, 2) + ":51002\n",
		"PersistentKeepalive = 25\n",
	} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("saved configuration lacks %q:\n%s", want, saved)
		}
	}
	if strings.Contains(string(saved), "FwMark") {
		t.Errorf("saved configuration has an FwMark nobody set:\n%s", saved)
	}

	// The saved file is a working configuration, and saving it again
	// changes nothing.
	l.MustWgplex(l.Q, "up", conf)
	Ping(t, l.Q, l.addr(214, 2), 2)
	if a := l.Q.MustRun("ip", "addr", "show", "dev", l.Iface); !strings.Contains(a, l.addr(214, 77)+"/32") {
		t.Errorf("the saved address is not on the interface:\n%s", a)
	}
	l.MustWgplex(l.Q, "down", conf)
	again, _ := os.ReadFile(conf)
	if string(again) != string(saved) {
		t.Errorf("second save differs:\n--- first\n%s--- second\n%s", saved, again)
	}
	NoTrace(t, l.Iface, l.Q)
	SameDump(t, l.Q, before, "after the second down")
}

// TestUpRefusesWithoutChange checks that `wgplex up` stops before touching
// the host when it cannot do the whole job: a malformed file (an error
// that names the file and line), DNS without resolvconf(8), a PreUp hook
// that fails; and that a PostUp hook that fails takes back all that was
// done.
func TestUpRefusesWithoutChange(t *testing.T) {
	l := newQuickLab(t, 43)
	Settle(t, l.Q)
	before := HostDump(t, l.Q)
	psk := GenPSK(t)
	peer := func(extra string) string {
		return fmt.Sprintf("[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n%s", l.pKey.Public, l.addr(214, 2), extra)
	}
	head := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = %s/24\n", l.qKey.Private, l.addr(214, 1))
	for _, tc := range []struct {
		name, conf string
		env        []string
		want       string // regexp over the output; FILE stands for the file's path
	}{
		{name: "unknown key", conf: head + "Colour = blue\n" + peer(""), want: `(?m)^FILE:4: unknown key "Colour" in \[Interface\]$`},
		{name: "bad base64", conf: head + "[Peer]\nPublicKey = " + strings.Repeat("!", 43) + "=\n", want: `(?m)^FILE:5: PublicKey: key is not`},
		{name: "bad CIDR", conf: head + peer("AllowedIPs = 10.0.0.0/33\n"), want: `(?m)^FILE:7: AllowedIPs: allowed IP "10.0.0.0/33": prefix length`},
		{name: "bad address", conf: strings.Replace(head, "/24", "/99", 1) + peer(""), want: `(?m)^FILE:3: Address`},
		{name: "duplicate peer", conf: head + peer("") + peer("PresharedKey = "+psk+"\n"), want: `(?m)^FILE:8: duplicate peer`},
		{name: "DNS without resolvconf", conf: head + "DNS = 10.214.43.53, example.test\n" + peer(""),
			env: []string{"PATH=/nonexistent-wgplex-test"}, want: `resolvconf\(8\) is not installed`},
		{name: "failing PreUp", conf: head + "PreUp = exit 3\n" + peer(""), want: `hook "exit 3": exit status 3`},
		// PostUp runs with everything in place: its failure takes it all
		// back, daemon included.
		{name: "failing PostUp", conf: head + "PostUp = exit 4\n" + peer("") + "Endpoint = " + l.addr(213, 2) + ":51002\n",
			want: `(?s)ip link delete dev .*hook "exit 4": exit status 4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, l.Iface+".conf", tc.conf)
			out, err := l.Wgplex(l.Q, tc.env, "up", path)
			if err == nil {
				t.Fatalf("wgplex up succeeded on a file it should refuse:\n%s", out)
			}
			re := regexp.MustCompile(strings.ReplaceAll(tc.want, "FILE", regexp.QuoteMeta(path)))
			if !re.MatchString(out) {
				t.Errorf("output does not match %s:\n%s", re, out)
			}
			if strings.Contains(out, l.qKey.Private) {
				t.Errorf("the error quotes the private key:\n%s", out)
			}
			NoTrace(t, l.Iface, l.Q)
			SameDump(t, l.Q, before, "after a refused up")
		})
	}
}

// TestUpNetns brings the interface up with --netns: the device lives in
// a namespace C that has nothing else (the "container"), while the UDP
// socket stays in Q where wgplex runs. C ends with only lo and the
// tunnel, reaches the peer and the third address through it, is reached
// from the peer, keeps working after its MTU is changed inside C, gets its
// resolv.conf; down restores both namespaces and /etc/netns.
func TestUpNetns(t *testing.T) {
	l := newQuickLab(t, 44)
	c := NewNetns(t)
	Settle(t, l.Q)
	beforeQ, beforeC := HostDump(t, l.Q), HostDump(t, c)
	etcNetns := filepath.Join("/etc/netns", c.Name)
	t.Cleanup(func() { os.RemoveAll(etcNetns) })

	extra := fmt.Sprintf("Address = %s/24, %s/64\nDNS = 10.214.44.53, example.test\n", l.addr(214, 1), l.addr6(214, 1))
	conf := l.Conf(extra, "0.0.0.0/0, ::/0")
	t.Logf("wgplex up --netns:\n%s", l.MustWgplex(l.Q, "up", "--netns", c.Name, conf))

	links := c.MustRun("ip", "-o", "link", "show")
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(links), "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			names = append(names, strings.TrimSuffix(f[1], ":"))
		}
	}
	if strings.Join(names, " ") != "lo "+l.Iface {
		t.Errorf("interfaces in the container: %v, want lo and %s", names, l.Iface)
	}
	if _, err := l.Q.Run("ip", "link", "show", l.Iface); err == nil {
		t.Errorf("%s is also in %s", l.Iface, l.Q.Name)
	}
	if udp := l.Q.MustRun("ss", "-Huln", "sport", "= :51001"); !strings.Contains(udp, ":51001") {
		t.Errorf("no UDP socket on port 51001 in the start namespace:\n%s", udp)
	}
	if udp := c.MustRun("ss", "-Hua"); strings.TrimSpace(udp) != "" {
		t.Errorf("UDP sockets in the container:\n%s", udp)
	}
	// Policy routing is not needed here: the default route is simply in
	// the container's main table.
	if r := c.MustRun("ip", "route"); !strings.Contains(r, "default dev "+l.Iface) {
		t.Errorf("container routes:\n%s", r)
	}
	if r := c.MustRun("ip", "rule"); strings.Contains(r, "fwmark") {
		t.Errorf("container rules:\n%s", r)
	}
	if rc := c.MustRun("cat", "/etc/resolv.conf"); rc != "nameserver 10.214.44.53\nsearch example.test\n" {
		t.Errorf("the container's resolv.conf:\n%s", rc)
	}

	Ping(t, c, l.addr(214, 2), 3)
	Ping(t, c, l.Third(), 3)
	Ping(t, c, l.Third6(), 3)
	Ping(t, l.P, l.addr(214, 1), 3)
	// The device's MTU is controlled from inside the container; the
	// daemon must follow (it sized packets for 1420 otherwise).
	c.MustRun("ip", "link", "set", l.Iface, "mtu", "1300")
	if out, err := c.Run("ping", "-n", "-c", "3", "-W", "2", "-M", "do", "-s", "1272", l.addr(214, 2)); err != nil {
		t.Errorf("full-size ping after the MTU change: %v\n%s", err, out)
	}

	t.Logf("wgplex down:\n%s", l.MustWgplex(l.Q, "down", conf))
	NoTrace(t, l.Iface, l.Q, c)
	SameDump(t, l.Q, beforeQ, "start namespace after down")
	SameDump(t, c, beforeC, "container after down")
	if fileExists(etcNetns) {
		t.Errorf("%s left behind", etcNetns)
	}
}

// TestDemo runs `wgplex demo` and checks that it reports success and
// leaves neither namespaces nor interfaces nor files behind.
func TestDemo(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skip("wgplex demo is wgplex's own command")
	}
	// The output goes through a file, as a daemon that detached must not
	// hold a pipe of ours (it would with LOG_LEVEL set).
	log := filepath.Join(t.TempDir(), "demo.log")
	out, err := runCmd(2*cmdTimeout, "sh", "-c", `exec "$0" demo --seconds 1 >"$1" 2>&1`, impl.Bin, log)
	if data, rerr := os.ReadFile(log); rerr == nil {
		out = string(data)
	}
	t.Logf("wgplex demo:\n%s", out)
	if err != nil {
		t.Fatalf("wgplex demo: %v", err)
	}
	for _, want := range []string{"first ping answered", "5 pings: 5 answered", "MiB in", "latest handshake", "demo: OK"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	m := regexp.MustCompile(`wgplex-demo-(\d+)-a`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("demo output names no namespace")
	}
	pid := m[1]
	if list, _ := runCmd(cmdTimeout, "ip", "netns", "list"); strings.Contains(list, "wgplex-demo-"+pid+"-") {
		t.Errorf("demo namespaces left behind:\n%s", list)
	}
	for _, side := range []string{"a", "b"} {
		iface := "wgdemo" + pid + side
		for _, p := range []string{SocketPath(iface), filepath.Join(stateDir, iface+".state")} {
			if fileExists(p) {
				t.Errorf("%s left behind", p)
			}
		}
	}
}

// TestUpDNSResolvconf checks the resolvconf(8) calls for DNS, with a
// stand-in resolvconf on PATH that records its arguments and input (the
// real one would change the host's /etc/resolv.conf, which is not the
// test namespace's alone).
func TestUpDNSResolvconf(t *testing.T) {
	l := newQuickLab(t, 45)
	dir := t.TempDir()
	record := filepath.Join(dir, "resolvconf.log")
	fake := fmt.Sprintf("#!/bin/sh\necho \"args: $*\" >> %s\nif [ \"$1\" = -a ]; then cat >> %s; fi\n", record, record)
	if err := os.WriteFile(filepath.Join(dir, "resolvconf"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
	conf := l.Conf(fmt.Sprintf("Address = %s/24\nDNS = 10.214.45.53, fd00:214:45::53, corp.test, lab.test\n", l.addr(214, 1)), l.addr(214, 2)+"/32")
	if out, err := l.Wgplex(l.Q, env, "up", conf); err != nil {
		t.Fatalf("wgplex up: %v\n%s", err, out)
	}
	if out, err := l.Wgplex(l.Q, env, "down", conf); err != nil {
		t.Fatalf("wgplex down: %v\n%s", err, out)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	// Debian's resolvconf orders records by name and wants "tun." first.
	name := l.Iface
	if strings.Contains(string(got), "tun."+l.Iface) {
		name = "tun." + l.Iface
	}
	want := fmt.Sprintf("args: -a %[1]s -m 0 -x\nnameserver 10.214.45.53\nnameserver fd00:214:45::53\nsearch corp.test lab.test\nargs: -d %[1]s -f\n", name)
	if string(got) != want {
		t.Errorf("resolvconf was called as\n%s\nwant\n%s", got, want)
	}
	NoTrace(t, l.Iface, l.Q)
}
