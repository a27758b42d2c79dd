// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// Node is one end of a two-namespace tunnel built by NewPair.
type Node struct {
	*Daemon
	Key Key
	// Port is the UDP listen port, fixed so that endpoints are predictable.
	Port int
	// Dev is the underlay veth; Underlay4 and Underlay6 its addresses.
	Dev                  string
	Underlay4, Underlay6 netip.Prefix
	// Inner4 and Inner6 are the tunnel interface's addresses.
	Inner4, Inner6 netip.Prefix
}

// UnderlayEndpoint is the node's UDP endpoint on the chosen underlay family.
func (n *Node) UnderlayEndpoint(ipv6 bool) string {
	if ipv6 {
		return netip.AddrPortFrom(n.Underlay6.Addr(), uint16(n.Port)).String()
	}
	return netip.AddrPortFrom(n.Underlay4.Addr(), uint16(n.Port)).String()
}

// PairConfig shapes the tunnel NewPair builds. Which side knows the other's
// endpoint decides who can initiate: a side without an endpoint for its peer
// can only answer, so a test can force one side into the initiator role.
type PairConfig struct {
	IPv6Underlay bool // peers reach each other over fd00:213::/64
	PSK          bool // both peers use the same preshared key
	AKnowsB      bool // A is configured with B's endpoint
	BKnowsA      bool // B is configured with A's endpoint
	KeepaliveA   int  // A's persistent-keepalive for B, seconds (0 = off)
	// ArgsA are extra daemon options for A (e.g. --metrics-listen).
	ArgsA []string
}

// NewPair builds namespaces A and B joined by a veth pair (10.213.1.0/24,
// fd00:213::/64), runs implA in A and implB in B, and configures a tunnel
// between them (10.214.1.0/24, fd00:214::/64 inside). Nothing is sent until
// the test sends something.
func NewPair(t testing.TB, implA, implB Impl, cfg PairConfig) (a, b *Node) {
	t.Helper()
	nsA, nsB := NewNetns(t), NewNetns(t)
	Veth(t, nsA, "ul0", nsB, "ul0")
	mk := func(ns *Netns, impl Impl, host int, args []string) *Node {
		n := &Node{
			Daemon:    startDaemonArgs(t, ns, impl, nil, args...),
			Key:       GenKey(t),
			Port:      51000 + host,
			Dev:       "ul0",
			Underlay4: netip.MustParsePrefix(fmt.Sprintf("10.213.1.%d/24", host)),
			Underlay6: netip.MustParsePrefix(fmt.Sprintf("fd00:213::%d/64", host)),
			Inner4:    netip.MustParsePrefix(fmt.Sprintf("10.214.1.%d/24", host)),
			Inner6:    netip.MustParsePrefix(fmt.Sprintf("fd00:214::%d/64", host)),
		}
		ns.AddAddr(n.Dev, n.Underlay4.String())
		ns.AddAddr(n.Dev, n.Underlay6.String())
		return n
	}
	a, b = mk(nsA, implA, 1, cfg.ArgsA), mk(nsB, implB, 2, nil)
	psk := ""
	if cfg.PSK {
		psk = GenPSK(t)
	}
	// B first: A may send a handshake initiation the moment it is
	// configured (persistent keepalive does), and an initiation that reaches
	// an unconfigured B is only retried after the 5 s rekey timeout.
	// Up waits for the daemon's socket, so B is up and listening before
	// A can send anything.
	b.SetConf(pairConf(b, a, psk, cfg.BKnowsA, cfg.IPv6Underlay, 0))
	a.SetConf(pairConf(a, b, psk, cfg.AKnowsB, cfg.IPv6Underlay, cfg.KeepaliveA))
	b.Up(b.Inner4.String(), b.Inner6.String())
	a.Up(a.Inner4.String(), a.Inner6.String())
	return a, b
}

// pairConf is self's wg(8) configuration with peer as its only peer,
// allowed exactly the peer's tunnel addresses.
func pairConf(self, peer *Node, psk string, withEndpoint, ipv6 bool, keepalive int) string {
	var c strings.Builder
	fmt.Fprintf(&c, "[Interface]\nPrivateKey = %s\nListenPort = %d\n\n", self.Key.Private, self.Port)
	fmt.Fprintf(&c, "[Peer]\nPublicKey = %s\n", peer.Key.Public)
	if psk != "" {
		fmt.Fprintf(&c, "PresharedKey = %s\n", psk)
	}
	fmt.Fprintf(&c, "AllowedIPs = %s/32, %s/128\n", peer.Inner4.Addr(), peer.Inner6.Addr())
	if withEndpoint {
		fmt.Fprintf(&c, "Endpoint = %s\n", peer.UnderlayEndpoint(ipv6))
	}
	if keepalive > 0 {
		fmt.Fprintf(&c, "PersistentKeepalive = %d\n", keepalive)
	}
	return c.String()
}

// LogShow logs `wg show` of each node, for the record of a passing run as
// much as for diagnosing a failing one.
func LogShow(t testing.TB, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		t.Logf("%s (%s) wg show:\n%s", n.Impl.Name, n.NS.Name, n.Wg("show", n.Iface))
	}
}
