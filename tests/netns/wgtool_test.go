// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestWgToolMatchesReference drives the implementation under test and
// wireguard-go, each in its own namespace, through the same wg(8) session
// with the same keys, and requires `wg show dump` and `wg showconf` to agree
// after every step. Using identical keys and explicit listen ports leaves
// nothing that may legitimately differ but timestamps and the order in which
// a daemon lists peers and allowed IPs, which the comparison normalises.
//
// Neither namespace has anything but loopback, so the endpoints in the
// configuration have no route: the daemons' handshake attempts fail locally
// and no packet leaves, which also keeps every counter at zero.
func TestWgToolMatchesReference(t *testing.T) {
	impl, ref := implUnderTest(t), implReference(t)
	u := StartDaemon(t, NewNetns(t), impl)
	r := StartDaemon(t, NewNetns(t), ref)

	iface := GenKey(t)
	var p [6]Key
	for i := range p {
		p[i] = GenKey(t)
	}
	psk := GenPSK(t)

	// step runs one wg(8) command line on both daemons (IFACE stands for the
	// daemon's interface name) and compares the results.
	step := func(name string, wantPeers int, args ...string) {
		t.Helper()
		for _, d := range []*Daemon{u, r} {
			argv := slices.Clone(args)
			for i, a := range argv {
				argv[i] = strings.ReplaceAll(a, "IFACE", d.Iface)
			}
			d.Wg(argv...)
		}
		compareDaemons(t, name, wantPeers, u, r)
	}

	conf1 := fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51820

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.214.2.0/24, fd00:214:2::/64
Endpoint = 10.213.9.1:51820
PersistentKeepalive = 25

[Peer]
PublicKey = %s
AllowedIPs = 10.214.3.1/32, fd00:214:3::1/128
Endpoint = [fd00:213:9::2]:51821

[Peer]
PublicKey = %s
AllowedIPs = 10.214.4.0/24, fd00:214:4::/64, 10.214.40.0/22
`, iface.Private, p[0].Public, psk, p[1].Public, p[2].Public)
	step("setconf", 3, "setconf", "IFACE", writeTemp(t, "wgpx1.conf", conf1))

	step("add peer", 4, "set", "IFACE", "peer", p[3].Public,
		"allowed-ips", "10.214.5.0/24,fd00:214:5::/64", "endpoint", "10.213.9.5:51825",
		"persistent-keepalive", "7")
	step("change allowed-ips", 4, "set", "IFACE", "peer", p[1].Public,
		"allowed-ips", "10.214.3.0/24,fd00:214:3::/64")
	step("remove peer", 3, "set", "IFACE", "peer", p[2].Public, "remove")
	step("listen-port", 3, "set", "IFACE", "listen-port", "51999")
	step("fwmark", 3, "set", "IFACE", "fwmark", "0x2a")
	step("keepalive off", 3, "set", "IFACE", "peer", p[0].Public, "persistent-keepalive", "off")

	// The second file changes the port, drops peer 1's keepalive and PSK,
	// narrows its allowed IPs, removes peer 2 and peer 4, keeps peer 3 as it
	// is and adds two peers; syncconf must apply exactly that difference.
	conf2 := fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51830
FwMark = 0x2a

[Peer]
PublicKey = %s
AllowedIPs = 10.214.2.0/25
Endpoint = 10.213.9.1:51820

[Peer]
PublicKey = %s
AllowedIPs = 10.214.3.0/24, fd00:214:3::/64
Endpoint = [fd00:213:9::2]:51821

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.214.6.0/24
Endpoint = [fd00:213:9::6]:51826
PersistentKeepalive = 15

[Peer]
PublicKey = %s
AllowedIPs = fd00:214:7::/48
`, iface.Private, p[0].Public, p[1].Public, p[4].Public, psk, p[5].Public)
	step("syncconf", 4, "syncconf", "IFACE", writeTemp(t, "wgpx2.conf", conf2))
}

// compareDaemons fails the test if the two daemons' normalised dump or
// showconf differ, and checks the peer count so that a step that silently
// did nothing on both sides is not mistaken for agreement.
func compareDaemons(t *testing.T, step string, wantPeers int, u, r *Daemon) {
	t.Helper()
	ud, rd := normaliseDump(u.Dump()), normaliseDump(r.Dump())
	if ud != rd {
		t.Errorf("after %s: wg show dump differs\n%s:\n%s\n%s:\n%s", step, u.Impl.Name, ud, r.Impl.Name, rd)
	}
	if n := strings.Count(rd, "\n"); n != wantPeers {
		t.Errorf("after %s: reference lists %d peers, want %d:\n%s", step, n, wantPeers, rd)
	}
	uc, rc := normaliseShowconf(u.Wg("showconf", u.Iface)), normaliseShowconf(r.Wg("showconf", r.Iface))
	if uc != rc {
		t.Errorf("after %s: wg showconf differs\n%s:\n%s\n%s:\n%s", step, u.Impl.Name, uc, r.Impl.Name, rc)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// normaliseDump sorts peer lines and each peer's allowed IPs, and masks the
// latest-handshake column. The UAPI lists peers and allowed IPs in whatever
// order the daemon keeps them (wireguard-go: map and trie order), which is
// not part of the protocol.
func normaliseDump(dump string) string {
	lines := strings.Split(strings.TrimSpace(dump), "\n")
	head, peers := lines[0], lines[1:]
	for i, l := range peers {
		f := strings.Split(l, "\t")
		if len(f) == 8 {
			f[3] = sortList(f[3], ",")
			f[4] = "<time>"
		}
		peers[i] = strings.Join(f, "\t")
	}
	slices.Sort(peers)
	return strings.Join(append([]string{head}, peers...), "\n")
}

// normaliseShowconf sorts [Peer] sections and the entries of AllowedIPs.
func normaliseShowconf(conf string) string {
	sections := strings.Split(strings.TrimSpace(conf), "\n\n")
	for i, s := range sections {
		lines := strings.Split(s, "\n")
		for j, l := range lines {
			if k, v, ok := strings.Cut(l, " = "); ok && k == "AllowedIPs" {
				lines[j] = k + " = " + sortList(v, ", ")
			}
		}
		sections[i] = strings.Join(lines, "\n")
	}
	if len(sections) > 1 {
		slices.Sort(sections[1:])
	}
	return strings.Join(sections, "\n\n")
}

func sortList(s, sep string) string {
	items := strings.Split(s, sep)
	slices.Sort(items)
	return strings.Join(items, sep)
}
