// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDiscoveryUntrustedDir: without a CA, the registry is still bounded.
// A directory others may write is refused at start with a clear error; in
// a proper directory, a file of another user is ignored, claims covering
// default routes are refused, and rewriting a node's file and claiming
// its address in a second file does not move the address: the node puts
// its file back and its address is held for it meanwhile. Every node
// counts the refusals, and the mesh is whole afterwards.
func TestDiscoveryUntrustedDir(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skip("peer discovery is a wgplex feature")
	}
	const S = 12
	l := newMeshLab(t, impl, S)

	// A shared 1777 directory: the daemon does not start, and says why.
	loose := t.TempDir()
	if err := os.Chmod(loose, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	ns := l.attach(99)
	out, err := ns.Run(impl.Bin, "-f", "--discovery-dir", loose, "wgpx"+uniqueID())
	if err == nil || !strings.Contains(out, "--discovery-dir") || !strings.Contains(out, "lets others write") {
		t.Fatalf("daemon on a world-writable directory: %v\n%s", err, out)
	}
	t.Logf("refused at start: %s", strings.TrimSpace(out))

	dir := t.TempDir()
	l.be = meshBackend{name: "dir", args: []string{"--discovery-dir", dir, "--metrics-listen", "127.0.0.1:9586"}}
	for h := 1; h <= 4; h++ {
		l.startNode(h)
	}
	start := time.Now()
	for _, n := range l.nodes {
		l.join(n)
	}
	l.waitMesh(start, 30*time.Second, "a full mesh of 4 nodes")
	if failed := l.pingAll(l.nodes, l.nodes, time.Now().Add(20*time.Second)); len(failed) > 0 {
		t.Fatalf("no ping replies between %v", failed)
	}
	ep := fmt.Sprintf("10.213.%d.50:51820", S)

	// A file of user nobody (as if written into a directory it could
	// write): ignored, not a peer.
	nobody := GenKey(t)
	tmp := filepath.Join(dir, ".nobody")
	text := fmt.Sprintf("[Peer]\nPublicKey = %s\nAllowedIPs = 10.214.%d.60/32\nEndpoint = %s\n", nobody.Public, S, ep)
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "nobody.conf")); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 10*time.Second, "every node to ignore the file of user nobody", func() (bool, string) {
		for _, n := range l.nodes {
			if !strings.Contains(n.d.Output(), "owned by uid 65534") {
				return false, fmt.Sprintf("node %d has not said so", n.host)
			}
		}
		return true, ""
	})

	// Broad claims.
	before := counts(t, l.nodes, "too_broad")
	writePeerFile(t, dir, "broad.conf", GenKey(t).Public, "128.0.0.0/1, ::/0, 192.168.0.0/16", ep, nil)
	waitRefused(t, l.nodes, "too_broad", before)

	// The takeover: node 2's file rewritten to another address, and a
	// file of the attacker's key claiming node 2's address.
	victim := l.nodes[1]
	own := ownFile(t, dir, victim.key.Public)
	orig, err := os.ReadFile(own)
	if err != nil {
		t.Fatal(err)
	}
	thief := GenKey(t)
	before = counts(t, l.others(victim), "overlap")
	writePeerFile(t, dir, filepath.Base(own), victim.key.Public, fmt.Sprintf("10.214.%d.77/32", S), fmt.Sprintf("10.213.%d.77:51820", S), nil)
	writePeerFile(t, dir, "thief.conf", thief.Public, victim.tunnelAddr(l)+"/32", ep, nil)
	waitRestored(t, own, orig)
	waitRefused(t, l.others(victim), "overlap", before)

	for _, n := range l.nodes {
		peers, err := peersOf(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{nobody.Public, thief.Public} {
			if _, ok := peers[k]; ok {
				t.Errorf("node %d made an attacker's key a peer: %v", n.host, peers)
			}
		}
	}
	// Without a CA, the rewritten record itself is indistinguishable from
	// a node that moved, and is applied until node 2 restores it; what
	// matters is that its address never went to the thief and is back.
	l.waitMesh(time.Now(), 5*time.Second, "the mesh as it was")
	if failed := l.pingAll(l.nodes, l.nodes, time.Now().Add(10*time.Second)); len(failed) > 0 {
		t.Fatalf("no ping replies after the attacks between %v", failed)
	}
}

// others are the nodes of the lab but n.
func (l *meshLab) others(n *meshNode) []*meshNode {
	var out []*meshNode
	for _, o := range l.nodes {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}
