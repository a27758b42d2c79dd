// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cmdTimeout bounds every helper command; none of them should take more than
// a fraction of it, so hitting it means something hangs.
const cmdTimeout = 20 * time.Second

// Netns is a network namespace owned by one test. It is deleted, together
// with every process still running inside it, when the test ends.
type Netns struct {
	t    testing.TB
	Name string
}

// uniqueID returns a short random suffix. Names must not collide with other
// tests, other runs of this suite on the same host (several people share the
// machine) or leftovers of a killed run. Namespace names add the pid;
// interface names have room for no more than "wgpx" plus these six hex
// digits, and StartDaemon re-draws if the socket name is taken.
func uniqueID() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// NewNetns creates an empty namespace named wgpx<random> with loopback up.
func NewNetns(t testing.TB) *Netns {
	t.Helper()
	requireHost(t)
	n := &Netns{t: t, Name: fmt.Sprintf("wgpx%s-%d", uniqueID(), os.Getpid())}
	if out, err := runCmd(cmdTimeout, "ip", "netns", "add", n.Name); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", n.Name, err, out)
	}
	t.Cleanup(n.destroy)
	n.MustRun("ip", "link", "set", "lo", "up")
	return n
}

// destroy kills whatever still runs in the namespace (daemons that wg-quick
// detached, a stuck iperf3), by pid, then deletes the namespace. Processes
// started by helpers have already been stopped by their own cleanups; this
// is the safety net that keeps a failed test from leaking anything.
func (n *Netns) destroy() {
	deadline := time.Now().Add(5 * time.Second)
	for sig := syscall.SIGTERM; ; sig = syscall.SIGKILL {
		pids := n.Pids()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			n.t.Errorf("netns %s: processes %v survived SIGKILL", n.Name, pids)
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
		waitGone(pids, time.Second)
	}
	if out, err := runCmd(cmdTimeout, "ip", "netns", "del", n.Name); err != nil {
		n.t.Errorf("ip netns del %s: %v\n%s", n.Name, err, out)
	}
}

// Pids lists the processes running in the namespace.
func (n *Netns) Pids() []int {
	out, err := runCmd(cmdTimeout, "ip", "netns", "pids", n.Name)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// PidsOf lists the processes in the namespace whose executable is bin.
func (n *Netns) PidsOf(bin string) []int {
	var pids []int
	for _, pid := range n.Pids() {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == bin {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitGone polls until none of pids exists or d passes.
func waitGone(pids []int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				alive = true
			}
		}
		if !alive {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Command returns a command that runs argv inside the namespace.
func (n *Netns) Command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
	// A daemonizing child may inherit our pipes; do not let it hold Wait.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Run runs argv in the namespace and returns its combined output.
func (n *Netns) Run(argv ...string) (string, error) {
	return runCmd(cmdTimeout, append([]string{"ip", "netns", "exec", n.Name}, argv...)...)
}

// MustRun is Run that fails the test on error.
func (n *Netns) MustRun(argv ...string) string {
	n.t.Helper()
	out, err := n.Run(argv...)
	if err != nil {
		n.t.Fatalf("netns %s: %s: %v\n%s", n.Name, strings.Join(argv, " "), err, out)
	}
	return out
}

// AddAddr assigns cidr to dev. IPv6 addresses skip duplicate address
// detection, which would otherwise leave them unusable for a second or more.
func (n *Netns) AddAddr(dev, cidr string) {
	n.t.Helper()
	argv := []string{"ip", "addr", "add", cidr, "dev", dev}
	if strings.Contains(cidr, ":") {
		argv = append(argv, "nodad")
	}
	n.MustRun(argv...)
}

// DelAddr removes cidr from dev.
func (n *Netns) DelAddr(dev, cidr string) {
	n.t.Helper()
	n.MustRun("ip", "addr", "del", cidr, "dev", dev)
}

// Veth connects namespaces a and b with a veth pair, named aDev in a and
// bDev in b, both up. Both ends are created directly inside their
// namespaces, so the names never meet in the host namespace.
func Veth(t testing.TB, a *Netns, aDev string, b *Netns, bDev string) {
	t.Helper()
	out, err := runCmd(cmdTimeout, "ip", "link", "add", aDev, "netns", a.Name,
		"type", "veth", "peer", "name", bDev, "netns", b.Name)
	if err != nil {
		t.Fatalf("veth %s/%s <-> %s/%s: %v\n%s", a.Name, aDev, b.Name, bDev, err, out)
	}
	a.MustRun("ip", "link", "set", aDev, "up")
	b.MustRun("ip", "link", "set", bDev, "up")
}

// runCmd runs argv with a timeout and returns its combined output.
func runCmd(timeout time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %v)", err, timeout)
	}
	return string(out), err
}

// Eventually polls cond until it reports true, failing the test with cond's
// last detail if timeout passes first. Every wait in the suite goes through
// it: a condition with a deadline, never a fixed sleep.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, detail string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer collects a process's output while it runs; exec copies into it
// from another goroutine, and the test reads it on failure.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
