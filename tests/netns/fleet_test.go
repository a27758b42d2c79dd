// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/internal/testbuild"

	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// fleetCA is a fleet authority made with `wgplex fleet`, its files in a
// test directory.
type fleetCA struct {
	t   *testing.T
	bin string
	dir string
	key string // the CA private key
	pub string // the CA public file the nodes trust
	rl  string // its revocation list
}

func fleetCmd(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"fleet"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("wgplex fleet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newFleetCA(t *testing.T, bin, dir, name string) *fleetCA {
	c := &fleetCA{t: t, bin: bin, dir: dir, key: filepath.Join(dir, name+".key"), pub: filepath.Join(dir, name+".pub"), rl: filepath.Join(dir, name+".revoked")}
	fleetCmd(t, bin, "init-ca", "-name", name, "-key", c.key, "-pub", c.pub)
	return c
}

// issue makes a signing key and a certificate for WireGuard key wgPub;
// it returns the certificate and signing key files.
func (c *fleetCA) issue(name, wgPub string, serial int, prefixes, endpointNets string, extra ...string) (string, string) {
	c.t.Helper()
	cert, sign := filepath.Join(c.dir, name+".cert"), filepath.Join(c.dir, name+".sign")
	if !fileExists(sign) {
		fleetCmd(c.t, c.bin, "genkey", "-key", sign)
	}
	args := []string{"sign", "-ca-key", c.key, "-public-key", wgPub, "-signing-key", sign, "-name", name,
		"-prefixes", prefixes, "-serial", strconv.Itoa(serial), "-out", cert}
	if endpointNets != "" {
		args = append(args, "-endpoint-nets", endpointNets)
	}
	fleetCmd(c.t, c.bin, append(args, extra...)...)
	return cert, sign
}

// signRecord is a record of the node with certificate certPath, signed
// with its signing key: what a node publishes, or what an attacker with
// that key could.
func signRecord(t *testing.T, certPath, signPath string, seq uint64, endpoint string, prefixes ...string) []byte {
	t.Helper()
	raw, err := fleet.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := fleet.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	key, err := fleet.ReadPrivateKeyFile(signPath)
	if err != nil {
		t.Fatal(err)
	}
	r := &fleet.Record{Cert: cert, PublicKey: cert.PublicKey, Sequence: seq, Timestamp: time.Now(),
		Endpoints: []netip.AddrPort{netip.MustParseAddrPort(endpoint)}}
	for _, p := range prefixes {
		r.Prefixes = append(r.Prefixes, netip.MustParsePrefix(p))
	}
	out, err := r.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writePeerFile puts a record into the registry directory as its writer
// would (a temporary file renamed into place).
func writePeerFile(t *testing.T, dir, name, wgPub, allowed, endpoint string, signed []byte) {
	t.Helper()
	text := fmt.Sprintf("[Peer]\nPublicKey = %s\nAllowedIPs = %s\nEndpoint = %s\n", wgPub, allowed, endpoint)
	if signed != nil {
		text += "#wgplex: Signed = " + base64.StdEncoding.EncodeToString(signed) + "\n"
	}
	tmp := filepath.Join(dir, ".attack-tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// ownFile is the file the directory plugin of the node with key pub writes.
func ownFile(t *testing.T, dir, pub string) string {
	b, err := base64.StdEncoding.DecodeString(pub)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad key %q", pub)
	}
	return filepath.Join(dir, dirdisc.SelfFileName(sdk.Key(b)))
}

// pinger pings between every pair of nodes in batches until stopped and
// counts what was sent and what came back.
type pinger struct {
	stop       atomic.Bool
	wg         sync.WaitGroup
	mu         sync.Mutex
	sent, recv map[string]int
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

func (l *meshLab) startPings(nodes []*meshNode) *pinger {
	p := &pinger{sent: map[string]int{}, recv: map[string]int{}}
	for _, s := range nodes {
		for _, d := range nodes {
			if s == d {
				continue
			}
			pair := fmt.Sprintf("%d->%d", s.host, d.host)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				for !p.stop.Load() {
					// A batch ends on its own (count reached, last reply
					// waited for), so no reply is cut off by the stop.
					out, _ := s.ns.Run("ping", "-n", "-q", "-c", "5", "-i", "0.2", "-W", "2", d.tunnelAddr(l))
					m := pingSummary.FindStringSubmatch(out)
					if m == nil {
						continue
					}
					tx, _ := strconv.Atoi(m[1])
					rx, _ := strconv.Atoi(m[2])
					p.mu.Lock()
					p.sent[pair] += tx
					p.recv[pair] += rx
					p.mu.Unlock()
				}
			}()
		}
	}
	return p
}

// finish stops the pings and returns the pairs that lost any, and the
// total sent.
func (p *pinger) finish() ([]string, int) {
	p.stop.Store(true)
	p.wg.Wait()
	var lost []string
	total := 0
	for pair, tx := range p.sent {
		total += tx
		if rx := p.recv[pair]; rx != tx || tx == 0 {
			lost = append(lost, fmt.Sprintf("%s: %d of %d", pair, rx, tx))
		}
	}
	return lost, total
}

// rejected is a node's wgplex_discovery_records_rejected_total{reason}.
func rejected(t *testing.T, n *meshNode, reason string) float64 {
	return metricValue(scrapeMetrics(t, n.ns), fmt.Sprintf(`wgplex_discovery_records_rejected_total{reason=%q}`, reason))
}

// waitRefused waits until every node in nodes counted one more refusal
// for reason than in before.
func waitRefused(t *testing.T, nodes []*meshNode, reason string, before map[*meshNode]float64) {
	t.Helper()
	Eventually(t, 10*time.Second, "every node to refuse with "+reason, func() (bool, string) {
		var bad []string
		for _, n := range nodes {
			if v := rejected(t, n, reason); v < before[n]+1 {
				bad = append(bad, fmt.Sprintf("node %d: %v", n.host, v))
			}
		}
		return len(bad) == 0, strings.Join(bad, ", ")
	})
}

func counts(t *testing.T, nodes []*meshNode, reason string) map[*meshNode]float64 {
	out := map[*meshNode]float64{}
	for _, n := range nodes {
		out[n] = rejected(t, n, reason)
	}
	return out
}

// TestDiscoveryFleetDir: a 4-node mesh over the directory backend with a
// fleet CA goes through runFleet; then another node brought up with
// `wgplex up` and SaveConfig joins, and `wgplex down` writes none of its
// discovered peers into its configuration file.
func TestDiscoveryFleetDir(t *testing.T) {
	impl := implUnderTest(t)
	if impl.Name != "wgplex" {
		t.Skip("peer discovery is a wgplex feature")
	}
	l := newMeshLab(t, impl, 11)
	dir := t.TempDir()
	l.be = meshBackend{name: "dir+ca", args: []string{"--discovery-dir", dir}}
	ca := runFleet(t, l, dirWriter{dir})
	t.Run("saveconfig", func(t *testing.T) { fleetSaveConfig(t, l, ca, dir) })
}

// registryWriter is what an attacker with write access to the registry
// does, for one backend.
type registryWriter interface {
	// put files a record under key pub, replacing what is there.
	put(t *testing.T, pub, allowed, endpoint string, signed []byte)
	// del removes the record of key pub.
	del(t *testing.T, pub string)
	// get is the stored form of key pub's record, "" if there is none.
	get(t *testing.T, pub string) string
}

// dirWriter writes into a registry directory, under the file name a node
// with the key would use.
type dirWriter struct{ dir string }

func (w dirWriter) put(t *testing.T, pub, allowed, endpoint string, signed []byte) {
	writePeerFile(t, w.dir, filepath.Base(ownFile(t, w.dir, pub)), pub, allowed, endpoint, signed)
}

func (w dirWriter) del(t *testing.T, pub string) { os.Remove(ownFile(t, w.dir, pub)) }

func (w dirWriter) get(t *testing.T, pub string) string {
	b, _ := os.ReadFile(ownFile(t, w.dir, pub))
	return string(b)
}

// runFleet: the lab's nodes get a fleet CA, certificates and signing keys
// on top of l.be. A 4-node mesh forms; while every node pings every other,
// the registry is fed records that must not become peers, and each is
// refused by every node, counted by reason, and no ping is lost. A node
// whose own record is overwritten puts it back within 2 s. Node 4 has its
// record signed by a key vault (--discovery-signer). It returns the CA.
func runFleet(t *testing.T, l *meshLab, reg registryWriter) *fleetCA {
	impl, S := l.impl, l.subnet
	files := t.TempDir()
	ca := newFleetCA(t, impl.Bin, files, "fleet")
	rogue := newFleetCA(t, impl.Bin, files, "rogue")
	lan := fmt.Sprintf("10.213.%d.0/24", S)
	tunAddr := func(h int) string { return fmt.Sprintf("10.214.%d.%d/32", S, h) }

	// Revoked before anything starts: serial 66.
	revokedKey := GenKey(t)
	revCert, revSign := ca.issue("revoked", revokedKey.Public, 66, tunAddr(66), lan)
	fleetCmd(t, impl.Bin, "revoke", "-ca-key", ca.key, "-list", ca.rl, "66")

	certs := map[*meshNode][2]string{}
	vault := buildFileVault(t)
	l.be.args = append(l.be.args, "--discovery-ca", ca.pub, "--discovery-revocations", ca.rl, "--metrics-listen", "127.0.0.1:9586")
	l.nodeArgs = func(n *meshNode) []string {
		c, s := ca.issue(fmt.Sprintf("node%d", n.host), n.key.Public, n.host, tunAddr(n.host), lan)
		certs[n] = [2]string{c, s}
		if n.host == 4 {
			// Node 4's signing key is held by a key vault.
			wgKey := filepath.Join(files, "node4.wgkey")
			if err := os.WriteFile(wgKey, []byte(n.key.Private+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--discovery-cert", c, "--discovery-signer", vault + " -key " + wgKey + " -signing-key " + s}
		}
		return []string{"--discovery-cert", c, "--discovery-signing-key", s}
	}
	for h := 1; h <= 5; h++ {
		l.startNode(h)
	}
	start := time.Now()
	for _, n := range l.nodes {
		l.join(n)
	}
	l.waitMesh(start, 30*time.Second, "a full mesh of 5 nodes with a CA")
	// Node 5 leaves in good order (its record goes): the others remember
	// the sequence of its last record, so a replay of an older one fails.
	ghost := l.nodes[4]
	ghost.d.cmd.Process.Signal(syscall.SIGTERM)
	Eventually(t, 10*time.Second, "node 5 to exit", func() (bool, string) { return ghost.d.Exited(), "" })
	l.nodes = l.nodes[:4]
	l.waitMesh(time.Now(), 10*time.Second, "the mesh of 4 after node 5 left")
	if failed := l.pingAll(l.nodes, l.nodes, time.Now().Add(20*time.Second)); len(failed) > 0 {
		t.Fatalf("no ping replies between %v", failed)
	}
	pings := l.startPings(l.nodes)
	defer pings.finish()
	all := l.nodes
	attack := func(name, reason string, do func()) {
		t.Helper()
		before := counts(t, all, reason)
		do()
		waitRefused(t, all, reason, before)
		t.Logf("%s: %s refused as %s by nodes %v", l.be.name, name, reason, hosts(all))
	}

	// Mallory holds a valid certificate for her own key and address.
	mallory := GenKey(t)
	malCert, malSign := ca.issue("mallory", mallory.Public, 50, tunAddr(50), lan)
	ep := fmt.Sprintf("10.213.%d.50:51820", S)
	seq := uint64(time.Now().UnixNano())

	attack("unsigned record", "unsigned", func() {
		reg.put(t, GenKey(t).Public, tunAddr(60), ep, nil)
	})
	attack("record under another CA", "unknown_ca", func() {
		k := GenKey(t)
		c, s := rogue.issue("rogue-node", k.Public, 1, tunAddr(61), lan)
		reg.put(t, k.Public, tunAddr(61), ep, signRecord(t, c, s, seq, ep, tunAddr(61)))
	})
	attack("expired certificate", "expired", func() {
		k := GenKey(t)
		c, s := ca.issue("expired", k.Public, 62, tunAddr(62), lan,
			"-not-before", time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339), "-valid", "1h")
		reg.put(t, k.Public, tunAddr(62), ep, signRecord(t, c, s, seq, ep, tunAddr(62)))
	})
	attack("revoked serial", "revoked", func() {
		reg.put(t, revokedKey.Public, tunAddr(66), ep, signRecord(t, revCert, revSign, seq, ep, tunAddr(66)))
	})
	attack("prefix outside the certificate", "prefix_outside_cert", func() {
		// Mallory claims node 2's address besides her own.
		reg.put(t, mallory.Public, tunAddr(50), ep, signRecord(t, malCert, malSign, seq, ep, tunAddr(50), tunAddr(2)))
	})
	attack("endpoint outside the allowed networks", "endpoint_outside_allowed", func() {
		reg.put(t, mallory.Public, tunAddr(50), ep, signRecord(t, malCert, malSign, seq+1, "192.0.2.50:51820", tunAddr(50)))
	})
	attack("certificate of another key", "key_mismatch", func() {
		reg.del(t, mallory.Public)
		reg.put(t, GenKey(t).Public, tunAddr(50), ep, signRecord(t, malCert, malSign, seq+2, ep, tunAddr(50)))
	})
	// An older record of node 5 (signed with its real key, sequence 1),
	// put back after it left.
	attack("older sequence replayed", "stale_sequence", func() {
		reg.put(t, ghost.key.Public, tunAddr(5), ep,
			signRecord(t, certs[ghost][0], certs[ghost][1], 1, fmt.Sprintf("10.213.%d.5:51820", S), tunAddr(5)))
	})

	// Own records overwritten, by an older record of node 2 and by an
	// unsigned one of node 3, each pointing elsewhere: the owner puts its
	// record back within 2 s. The others refuse what they see of it in
	// the meantime (the owner may be quicker than their next look, so not
	// every node need see it); none applies it (the mesh check below).
	for _, tc := range []struct {
		n      *meshNode
		signed func() []byte
	}{
		{l.nodes[1], func() []byte {
			return signRecord(t, certs[l.nodes[1]][0], certs[l.nodes[1]][1], 1, fmt.Sprintf("10.213.%d.99:51820", S), tunAddr(2))
		}},
		{l.nodes[2], func() []byte { return nil }},
	} {
		orig := reg.get(t, tc.n.key.Public)
		if orig == "" {
			t.Fatalf("node %d has no record in the registry", tc.n.host)
		}
		restored0 := metricValue(scrapeMetrics(t, tc.n.ns), "wgplex_discovery_self_restored_total")
		reg.put(t, tc.n.key.Public, tunAddr(tc.n.host), fmt.Sprintf("10.213.%d.98:51820", S), tc.signed())
		start := time.Now()
		Eventually(t, 2*time.Second, fmt.Sprintf("node %d to restore its record", tc.n.host), func() (bool, string) {
			v := reg.get(t, tc.n.key.Public)
			return v == orig, v
		})
		t.Logf("%s: node %d restored its record after %v", l.be.name, tc.n.host, time.Since(start).Round(time.Millisecond))
		if v := metricValue(scrapeMetrics(t, tc.n.ns), "wgplex_discovery_self_restored_total"); v < restored0+1 {
			t.Errorf("node %d restored its record but counted %v restorations (was %v)", tc.n.host, v, restored0)
		}
	}

	if ok, detail := l.meshComplete(); !ok {
		t.Errorf("the mesh changed under the attacks: %s", detail)
	}
	lost, sent := pings.finish()
	if len(lost) > 0 {
		t.Errorf("pings lost during the attacks: %v", lost)
	} else {
		t.Logf("%s: %d pings across the attacks, none lost", l.be.name, sent)
	}
	return ca
}

func hosts(nodes []*meshNode) []int {
	var out []int
	for _, n := range nodes {
		out = append(out, n.host)
	}
	return out
}

// waitRestored waits up to 2 s for a node's own file to be back as it
// was.
func waitRestored(t *testing.T, path string, orig []byte) {
	t.Helper()
	start := time.Now()
	Eventually(t, 2*time.Second, "the node to restore "+filepath.Base(path), func() (bool, string) {
		b, err := os.ReadFile(path)
		return err == nil && string(b) == string(orig), string(b)
	})
	t.Logf("%s restored by its node after %v", filepath.Base(path), time.Since(start).Round(time.Millisecond))
}

// fleetSaveConfig brings another node up with `wgplex up` (SaveConfig, a
// hand-configured peer, discovery through the environment), waits for its
// discovered peers, takes it down and checks the file it saved.
func fleetSaveConfig(t *testing.T, l *meshLab, ca *fleetCA, dir string) {
	const host = 6
	ns := l.attach(host)
	k := GenKey(t)
	hand := GenKey(t)
	cert, sign := ca.issue("node6", k.Public, host, fmt.Sprintf("10.214.%d.%d/32", l.subnet, host), fmt.Sprintf("10.213.%d.0/24", l.subnet))
	iface := "wgpx" + uniqueID()
	conf := filepath.Join(t.TempDir(), iface+".conf")
	text := fmt.Sprintf("[Interface]\nPrivateKey = %s\nAddress = 10.214.%d.%d/24\nListenPort = 51820\nSaveConfig = true\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.214.%d.200/32\n",
		k.Private, l.subnet, host, hand.Public, l.subnet)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"LOG_LEVEL=verbose", "WGPLEX_DISCOVERY_DIR=" + dir, "WGPLEX_DISCOVERY_CA=" + ca.pub,
		"WGPLEX_DISCOVERY_CERT=" + cert, "WGPLEX_DISCOVERY_SIGNING_KEY=" + sign, "WGPLEX_DISCOVERY_REVOCATIONS=" + ca.rl}
	wgplex := func(args ...string) (string, error) {
		log := filepath.Join(t.TempDir(), "wgplex.log")
		f, err := os.Create(log)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd := ns.Command(t.Context(), append(append([]string{"env"}, env...), append([]string{l.impl.Bin}, args...)...)...)
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		out, _ := os.ReadFile(log)
		return string(out), err
	}
	if out, err := wgplex("up", conf); err != nil {
		t.Fatalf("wgplex up: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if fileExists(SocketPath(iface)) {
			wgplex("down", conf)
		}
	})
	Eventually(t, 15*time.Second, "node 6 to discover the mesh", func() (bool, string) {
		out, _ := ns.Run("wg", "show", iface, "peers")
		n := 0
		for _, m := range l.live() {
			if strings.Contains(out, m.key.Public) {
				n++
			}
		}
		return n == len(l.live()), out
	})
	if out, err := wgplex("down", conf); err != nil {
		t.Fatalf("wgplex down: %v\n%s", err, out)
	}
	saved, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(saved), hand.Public) || !strings.Contains(string(saved), "SaveConfig = true") {
		t.Errorf("the saved file lost the hand-configured peer:\n%s", saved)
	}
	for _, m := range l.live() {
		if strings.Contains(string(saved), m.key.Public) {
			t.Errorf("the saved file holds discovered peer %d:\n%s", m.host, saved)
		}
	}
}

// buildFileVault builds the file key vault plugin.
func buildFileVault(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := testbuild.Build(root, dir+"/", false, "./plugins/keyvault-file"); err != nil {
		t.Fatalf("building the file key vault: %v", err)
	}
	p, err := realPath(filepath.Join(dir, "keyvault-file"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
