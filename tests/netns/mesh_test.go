// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The mesh harness: N nodes, each a wgplex daemon in a namespace of its
// own on one bridge, with the etcd discovery plugin on a real etcd and
// records signed under a fleet CA. It measures, on every node, how long
// a join takes to become visible and how long a killed node takes to go.
//
// The harness must not be what it measures: it reads a node's state with
// one UAPI get over the node's socket (the socket lives in the file
// system, so no process is started per look), and a node that has seen
// what it waits for is not asked again.

// meshJoinDeadline is how long a new node may take to appear on every
// other node, and they on it.
const meshJoinDeadline = 2 * time.Second

// meshLeaveSlack is how long past the lease TTL a killed node may stay on
// another node.
const meshLeaveSlack = 2 * time.Second

// meshSize is the number of nodes: WGPLEX_MESH_NODES, 8 by default (what
// CI runs); bench/mesh.sh sets 32 and 64.
func meshSize(t *testing.T) int {
	s := os.Getenv("WGPLEX_MESH_NODES")
	if s == "" {
		return 8
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 2 || n > 200 {
		t.Fatalf("WGPLEX_MESH_NODES=%q: want a number of nodes from 2 to 200", s)
	}
	return n
}

// meshPoll is the time between two looks at one node: fine enough for the
// 2 s deadline, coarse enough that 64 nodes polled at once do not load
// the machine more than the daemons do.
func meshPoll(nodes int) time.Duration {
	if nodes <= 16 {
		return 50 * time.Millisecond
	}
	return 100 * time.Millisecond
}

// meshLeavePoll is the time between two looks while a killed node's lease
// runs out: the 2 s of slack past the TTL allow a coarser look over the
// longer wait.
const meshLeavePoll = 250 * time.Millisecond

// uapiPeer is one peer as a UAPI get shows it.
type uapiPeer struct {
	endpoint string
	allowed  []string
}

// uapiPeers reads every peer of interface iface with one get=1, keyed by
// public key in hex.
func uapiPeers(iface string) (map[string]uapiPeer, error) {
	resp, err := uapiRequest(SocketPath(iface), []byte("get=1\n\n"), false)
	if err != nil {
		return nil, err
	}
	if errno, ok := uapiErrno(resp); !ok || errno != 0 {
		return nil, fmt.Errorf("get=1 on %s: %.200q", iface, resp)
	}
	peers := map[string]uapiPeer{}
	cur := ""
	for _, line := range strings.Split(resp, "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch {
		case k == "public_key":
			cur = v
			peers[cur] = uapiPeer{}
		case cur == "":
		case k == "endpoint":
			p := peers[cur]
			p.endpoint = v
			peers[cur] = p
		case k == "allowed_ip":
			p := peers[cur]
			p.allowed = append(p.allowed, v)
			peers[cur] = p
		}
	}
	return peers, nil
}

// hexKey is a wg(8) base64 key in the hex form the UAPI uses.
func hexKey(b64 string) string {
	b, _ := base64.StdEncoding.DecodeString(b64)
	return hex.EncodeToString(b)
}

// hasNode reports whether peers hold node o as discovery makes it: its
// tunnel address and its address on the LAN as endpoint.
func (l *meshLab) hasNode(peers map[string]uapiPeer, o *meshNode) bool {
	p, ok := peers[hexKey(o.key.Public)]
	return ok && slices.Contains(p.allowed, o.tunnelAddr(l)+"/32") &&
		strings.HasPrefix(p.endpoint, fmt.Sprintf("10.213.%d.%d:", l.subnet, o.host))
}

// watchNodes polls every node in nodes at once, one UAPI get per look
// every poll, until cond holds for it or timeout passes. It returns, per node, how
// long after since cond first held (-1 if never) and the last reason it
// did not.
func (l *meshLab) watchNodes(nodes []*meshNode, since time.Time, timeout, poll time.Duration,
	cond func(n *meshNode, peers map[string]uapiPeer) (bool, string)) ([]time.Duration, []string) {
	took := make([]time.Duration, len(nodes))
	why := make([]string, len(nodes))
	end := since.Add(timeout)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			took[i] = -1
			for {
				peers, err := uapiPeers(n.d.Iface)
				if err == nil {
					var ok bool
					ok, why[i] = cond(n, peers)
					if ok {
						// The state held when the answer was made, at the
						// latest now: a time never shorter than the real
						// one, longer by up to a poll period and a read.
						took[i] = time.Since(since)
						return
					}
				} else {
					why[i] = err.Error()
				}
				if time.Now().After(end) {
					return
				}
				time.Sleep(poll) // the polling period, not a wait for a condition
			}
		}()
	}
	wg.Wait()
	return took, why
}

// spread is min, median and max of the durations that are not -1, and how
// many were -1.
type spread struct {
	min, median, max time.Duration
	missing          int
}

func spreadOf(d []time.Duration) spread {
	var s spread
	var ok []time.Duration
	for _, v := range d {
		if v < 0 {
			s.missing++
			continue
		}
		ok = append(ok, v)
	}
	if len(ok) == 0 {
		return s
	}
	slices.Sort(ok)
	s.min, s.max = ok[0], ok[len(ok)-1]
	if len(ok)%2 == 1 {
		s.median = ok[len(ok)/2]
	} else {
		s.median = (ok[len(ok)/2-1] + ok[len(ok)/2]) / 2
	}
	return s
}

func (s spread) String() string {
	return fmt.Sprintf("min=%dms median=%dms max=%dms missing=%d",
		s.min.Milliseconds(), s.median.Milliseconds(), s.max.Milliseconds(), s.missing)
}

// TestMeshEtcdFleet: WGPLEX_MESH_NODES nodes (8 by default) with signed
// records under a fleet CA form a full mesh over a real etcd; another node
// joins and is on every node, and every node on it, within 2 s; a node
// killed with SIGKILL is gone from every other within the lease TTL plus
// 2 s. The figures (per node: min, median, max) go to the log on a
// FIGURES line, which bench/mesh.sh collects.
func TestMeshEtcdFleet(t *testing.T) {
	size := meshSize(t)
	const S = 30
	l := newEtcdMeshLab(t, S)

	ca := newFleetCA(t, l.impl.Bin, t.TempDir(), "mesh")
	lan := fmt.Sprintf("10.213.%d.0/24", S)
	l.be.args = append(l.be.args, "--discovery-ca", ca.pub)
	l.nodeArgs = func(n *meshNode) []string {
		c, s := ca.issue(fmt.Sprintf("node%d", n.host), n.key.Public, n.host, n.tunnelAddr(l)+"/32", lan)
		return []string{"--discovery-cert", c, "--discovery-signing-key", s}
	}

	startAll := time.Now()
	for h := 1; h <= size; h++ {
		l.startNode(h)
	}
	t.Logf("%d daemons started in %v", size, time.Since(startAll).Round(time.Millisecond))
	start := time.Now()
	for _, n := range l.nodes {
		l.join(n)
	}
	converge := l.waitMeshUAPI(start, 30*time.Second+time.Duration(size)*time.Second,
		fmt.Sprintf("a full mesh of %d nodes", size))
	t.Logf("%d-node mesh: each node had all others after %v from the first key set", size, converge)
	// The configuration works: every node reaches node 1 and node 1
	// reaches every node (all pairs would be size² pings).
	if failed := l.pingAll(l.nodes, l.nodes[:1], time.Now().Add(20*time.Second)); len(failed) > 0 {
		t.Fatalf("no ping replies between %v", failed)
	}
	if failed := l.pingAll(l.nodes[:1], l.nodes, time.Now().Add(20*time.Second)); len(failed) > 0 {
		t.Fatalf("no ping replies between %v", failed)
	}

	// A node joins: on every other node, and they on it, within 2 s.
	others := append([]*meshNode(nil), l.nodes...)
	newcomer := l.startNode(size + 1)
	harness0, mesh0 := harnessCPU(), meshCPU(l)
	start = time.Now()
	l.join(newcomer)
	// The newcomer and the others are watched at once: one look at a
	// node never waits for another node.
	all := append(append([]*meshNode(nil), others...), newcomer)
	seen, why := l.watchNodes(all, start, meshJoinDeadline+10*time.Second, meshPoll(len(l.nodes)),
		func(n *meshNode, peers map[string]uapiPeer) (bool, string) {
			if n != newcomer {
				return l.hasNode(peers, newcomer), fmt.Sprintf("node %d: no node %d", n.host, newcomer.host)
			}
			missing := 0
			for _, o := range others {
				if !l.hasNode(peers, o) {
					missing++
				}
			}
			return missing == 0, fmt.Sprintf("node %d misses %d of %d", n.host, missing, len(others))
		})
	sees, whyNew := seen[len(others):], why[len(others):]
	seen, why = seen[:len(others)], why[:len(others)]
	join := spreadOf(seen)
	t.Logf("join of node %d: seen by the %d others after %v; it saw them all after %v",
		newcomer.host, len(others), join, sees[0].Round(time.Millisecond))
	for i, d := range seen {
		if d < 0 || d > meshJoinDeadline {
			t.Errorf("node %d saw the new node after %v (deadline %v): %s", others[i].host, d, meshJoinDeadline, why[i])
		}
	}
	if sees[0] < 0 || sees[0] > meshJoinDeadline {
		t.Errorf("the new node saw the others after %v (deadline %v): %s", sees[0], meshJoinDeadline, whyNew[0])
	}

	// A node is killed (its plugin dies with it and stops renewing the
	// lease): gone from every other node within the TTL plus 2 s.
	victim := l.nodes[1]
	// etcd's own lease expiry is timed apart from wgplex's part (the
	// delete event reaching every node): on a loaded machine etcd has
	// been seen to revoke a 10 s lease after 16 s, which is the
	// registry's delay, not the daemon's.
	deleted := watchEtcdDelete(t, l.be.etcd, etcdKeyOf(t, l.be.prefix, victim.key.Public))
	start = time.Now()
	victim.d.cmd.Process.Kill()
	Eventually(t, 10*time.Second, "the victim to exit", func() (bool, string) { return victim.d.Exited(), "" })
	rest := l.live()
	limit := meshLeaseTTL + meshLeaveSlack
	gone, whyGone := l.watchNodes(rest, start, limit+10*time.Second, meshLeavePoll,
		func(n *meshNode, peers map[string]uapiPeer) (bool, string) {
			_, there := peers[hexKey(victim.key.Public)]
			return !there, fmt.Sprintf("node %d still has node %d", n.host, victim.host)
		})
	leave := spreadOf(gone)
	t.Logf("node %d killed: gone from the %d others after %v (lease TTL %v)", victim.host, len(rest), leave, meshLeaseTTL)
	expired := deleted(5 * time.Second).Sub(start)
	if expired < 0 {
		t.Errorf("etcd never reported the killed node's key deleted")
	} else {
		t.Logf("etcd deleted the killed node's key %v after the kill", expired.Round(time.Millisecond))
	}
	// The daemons' part: from etcd's delete to the peer gone, within the
	// slack, always.
	for i, d := range gone {
		if d < 0 {
			t.Errorf("node %d never dropped the killed node: %s", rest[i].host, whyGone[i])
		} else if expired >= 0 && d-expired > meshLeaveSlack {
			t.Errorf("node %d dropped the killed node %v after etcd deleted it (limit %v)", rest[i].host, d-expired, meshLeaveSlack)
		}
	}
	// The whole: within the TTL plus the slack, unless etcd itself
	// expired the lease late.
	if expired >= 0 && expired <= meshLeaseTTL {
		for i, d := range gone {
			if d > limit {
				t.Errorf("node %d dropped the killed node after %v (limit %v): %s", rest[i].host, d, limit, whyGone[i])
			}
		}
	} else if expired > meshLeaseTTL {
		t.Logf("etcd expired the %v lease only after %v: the whole is not held to %v in this run", meshLeaseTTL, expired, limit)
	}
	// What the looks cost, against what the nodes spent meanwhile (the
	// killed node's share goes with it).
	harness, mesh := harnessCPU()-harness0, cpuSince(mesh0, meshCPU(l))
	if ok, detail := l.meshCompleteUAPI(); !ok {
		t.Errorf("the mesh is not whole after the kill: %s", detail)
	}
	t.Logf("FIGURES mesh nodes=%d converge(%s) join(%s) newcomer_ms=%d leave(%s) ttl_s=%d poll_ms=%d leave_poll_ms=%d harness_cpu_ms=%d nodes_cpu_ms=%d",
		size, converge, join, sees[0].Milliseconds(), leave,
		int(meshLeaseTTL.Seconds()), meshPoll(len(l.nodes)).Milliseconds(), meshLeavePoll.Milliseconds(), harness.Milliseconds(), mesh.Milliseconds())
	logPluginFootprint(t, l)
}

// harnessCPU is the CPU time of the test process itself (not of the
// commands it runs).
func harnessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// meshCPU is the CPU time, in clock ticks, of every daemon and plugin of
// the lab's live nodes, by process.
func meshCPU(l *meshLab) map[int]int64 {
	out := map[int]int64{}
	for _, n := range l.live() {
		for _, pid := range n.ns.Pids() {
			if processRole(pid) != "" {
				out[pid] = cpuTicks(pid)
			}
		}
	}
	return out
}

// cpuSince is what the processes of before that still run spent since,
// and the processes started since spent in all.
func cpuSince(before, now map[int]int64) time.Duration {
	var ticks int64
	for pid, v := range now {
		ticks += v - before[pid]
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// complete is the condition of a node that has exactly the other live
// nodes as peers.
func (l *meshLab) complete(live []*meshNode) func(n *meshNode, peers map[string]uapiPeer) (bool, string) {
	return func(n *meshNode, peers map[string]uapiPeer) (bool, string) {
		missing := 0
		for _, o := range live {
			if o != n && !l.hasNode(peers, o) {
				missing++
			}
		}
		extra := len(peers) - (len(live) - 1 - missing)
		return missing == 0 && extra == 0, fmt.Sprintf("node %d: %d peers, %d missing, %d extra", n.host, len(peers), missing, extra)
	}
}

// meshCompleteUAPI is meshComplete read with one UAPI get per node.
func (l *meshLab) meshCompleteUAPI() (bool, string) {
	live := l.live()
	took, why := l.watchNodes(live, time.Now(), 0, 0, l.complete(live))
	var bad []string
	for i, d := range took {
		if d < 0 {
			bad = append(bad, why[i])
		}
	}
	return len(bad) == 0, strings.Join(bad, "; ")
}

// waitMeshUAPI waits until every live node has the whole mesh, each node
// read until it has, and returns how long each took from since.
func (l *meshLab) waitMeshUAPI(since time.Time, timeout time.Duration, what string) spread {
	l.t.Helper()
	live := l.live()
	took, why := l.watchNodes(live, since, timeout, meshPoll(len(live)), l.complete(live))
	s := spreadOf(took)
	if s.missing > 0 {
		var bad []string
		for i, d := range took {
			if d < 0 {
				bad = append(bad, why[i])
			}
		}
		l.t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, strings.Join(bad, "; "))
	}
	return s
}

// etcdKeyOf is the etcd key the discovery plugin keeps a node's record
// under: the prefix and the public key in unpadded URL-safe base64.
func etcdKeyOf(t *testing.T, prefix, public string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(public)
	if err != nil || len(raw) != 32 {
		t.Fatalf("public key %q: %v", public, err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(raw)
}

// watchEtcdDelete watches key on e with etcdctl from the first revision
// (so the key's own put, replayed, shows the watch is open) and returns a
// function that waits up to a given time for the key's delete and returns
// when it was seen (the zero time if never).
func watchEtcdDelete(t *testing.T, e *etcdServer, key string) func(wait time.Duration) time.Time {
	t.Helper()
	requireEtcdctl(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.ns.Command(ctx, e.ctl("watch", "--rev", "1", key)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("etcdctl watch: %v", err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("etcdctl watch: %v", err)
	}
	open := make(chan struct{})
	done := make(chan struct{})
	var at time.Time
	go func() {
		defer io.Copy(io.Discard, out)
		defer close(done)
		sc := bufio.NewScanner(out)
		put := false
		for sc.Scan() {
			switch sc.Text() {
			case "PUT":
				if !put {
					put = true
					close(open)
				}
			case "DELETE":
				at = time.Now()
				return
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	select {
	case <-open:
	case <-done:
		t.Fatalf("etcdctl watch %s ended before showing the key", key)
	case <-time.After(10 * time.Second):
		t.Fatalf("etcdctl watch %s showed no put of the key within 10 s", key)
	}
	return func(wait time.Duration) time.Time {
		defer stop()
		select {
		case <-done:
		case <-time.After(wait):
			return time.Time{}
		}
		return at
	}
}
