// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// routeReply builds an RTM_NEWROUTE message as the kernel answers a lookup.
func routeReply(family byte, seq uint32, oif uint32, prefsrc []byte) []byte {
	ne := binary.NativeEndian
	b := make([]byte, nlHdrLen+rtmsgLen)
	ne.PutUint16(b[4:6], unix.RTM_NEWROUTE)
	ne.PutUint32(b[8:12], seq)
	b[nlHdrLen] = family
	var o [4]byte
	ne.PutUint32(o[:], oif)
	b = appendAttr(b, unix.RTA_OIF, o[:])
	if prefsrc != nil {
		b = appendAttr(b, unix.RTA_PREFSRC, prefsrc)
	}
	ne.PutUint32(b[0:4], uint32(len(b)))
	return b
}

func TestParseRoute(t *testing.T) {
	msg := routeReply(unix.AF_INET, 7, 3, []byte{10, 0, 0, 3})
	var got []nlMessage
	if err := splitNetlink(msg, func(m nlMessage) { got = append(got, m) }); err != nil || len(got) != 1 {
		t.Fatalf("split: %v, %d messages", err, len(got))
	}
	if got[0].seq != 7 || got[0].typ != unix.RTM_NEWROUTE {
		t.Fatalf("header %+v", got[0])
	}
	ri, ok, err := parseRoute(got[0].body)
	if err != nil || !ok || ri.oif != 3 || ri.prefsrc != netip.MustParseAddr("10.0.0.3") {
		t.Fatalf("parseRoute = %+v, %v, %v", ri, ok, err)
	}
	v6 := netip.MustParseAddr("fd00::3").As16()
	ri, ok, err = parseRoute(routeReply(unix.AF_INET6, 1, 9, v6[:])[nlHdrLen:])
	if err != nil || !ok || ri.oif != 9 || ri.prefsrc != netip.MustParseAddr("fd00::3") {
		t.Fatalf("parseRoute v6 = %+v, %v, %v", ri, ok, err)
	}
	// A request parses back to what was asked.
	req := appendGetRoute(nil, netip.MustParseAddr("192.0.2.9"), 0x51820, 5)
	if err := splitNetlink(req, func(m nlMessage) {
		if m.typ != unix.RTM_GETROUTE || m.seq != 5 || m.body[0] != unix.AF_INET || m.body[1] != 32 {
			t.Errorf("request %+v", m)
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{
		{1, 2, 3},
		msg[:nlHdrLen-1],
		append(append([]byte{}, msg[:4]...), make([]byte, 12)...), // length beyond the data
		routeReply(unix.AF_INET, 1, 3, nil)[:nlHdrLen+rtmsgLen+2],
	} {
		_ = splitNetlink(bad, func(m nlMessage) { parseRoute(m.body) })
	}
	if _, _, err := parseRoute([]byte{2, 32}); err == nil {
		t.Fatal("short rtmsg accepted")
	}
	// An attribute claiming more bytes than there are.
	b := routeReply(unix.AF_INET, 1, 3, nil)[nlHdrLen:]
	binary.NativeEndian.PutUint16(b[rtmsgLen:], 200)
	if _, _, err := parseRoute(b); err == nil {
		t.Fatal("overlong attribute accepted")
	}
}

// FuzzRouteMessages feeds arbitrary datagrams to the notification and
// lookup-reply parsers: they may reject input, never panic or read out of
// bounds.
func FuzzRouteMessages(f *testing.F) {
	v6 := netip.MustParseAddr("fd00::3").As16()
	f.Add(routeReply(unix.AF_INET, 7, 3, []byte{10, 0, 0, 3}))
	f.Add(routeReply(unix.AF_INET6, 1, 9, v6[:]))
	f.Add(appendGetRoute(nil, netip.MustParseAddr("fd00::1"), 1, 2))
	f.Add(append(routeReply(unix.AF_INET, 1, 1, nil), routeReply(unix.AF_INET, 2, 2, nil)...))
	f.Add([]byte{})
	f.Add(make([]byte, nlHdrLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = splitNetlink(b, func(m nlMessage) {
			if len(m.body) > len(b) {
				t.Fatalf("body of %d bytes from %d", len(m.body), len(b))
			}
			isRoutingChange(m.typ)
			ri, ok, _ := parseRoute(m.body)
			if ok && ri.oif == 0 {
				t.Fatal("ok without an interface")
			}
		})
	})
}

// TestRouteWatchLooksUpRoutes runs the watcher in the test's own namespace
// (no root needed): the route to a loopback address leaves through lo, so a
// source learnt on lo is kept and one learnt elsewhere is not.
func TestRouteWatchLooksUpRoutes(t *testing.T) {
	w, err := newRouteWatch(func() uint32 { return 0 })
	if err != nil {
		t.Skipf("rtnetlink unavailable: %v", err)
	}
	defer w.close()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo: %v", err)
	}
	dst := netip.MustParseAddr("127.0.0.2")
	w.keepSource(dst, int32(lo.Index), nil)
	waitCond(t, "the lookup of 127.0.0.2", func() bool {
		_, ok := w.routes.Load().oifs[dst]
		return ok
	})
	if !w.keepSource(dst, int32(lo.Index), nil) {
		t.Fatal("source learnt on lo dropped although the route leaves through lo")
	}
	if w.keepSource(dst, int32(lo.Index)+1000, nil) {
		t.Fatal("source learnt on another interface kept")
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// requireRootNetns skips without root (fails under CI=true) and returns a
// fresh namespace, deleted when the test ends.
func requireRootNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root for a network namespace (CI=true, so not skipping)")
		}
		t.Skip("needs root for a network namespace")
	}
	ns := fmt.Sprintf("wgplexudp-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

// inNetns runs fn on a thread in ns; the thread is thrown away afterwards.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRouteFloodDoesNotStallSends changes the routing table of a namespace
// ten thousand times as fast as ip(8) can while datagrams go through a Bind
// in it: every datagram must arrive, and the lookups must be coalesced
// (far fewer passes than changes, at most one per routeResolveInterval).
func TestRouteFloodDoesNotStallSends(t *testing.T) {
	ns := requireRootNetns(t)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("link", "set", "lo", "up")
	ip("link", "add", "fl0", "type", "veth", "peer", "name", "fl1")
	ip("link", "set", "fl0", "up")
	var b *Bind
	var fns []func() (int, error)
	var port uint16
	inNetns(t, ns, func() {
		b = NewBind()
		rfs, p, err := b.Open(0)
		if err != nil {
			t.Errorf("Open: %v", err)
			return
		}
		port = p
		for _, fn := range rfs {
			bufs, sizes, segs := [][]byte{make([]byte, 2048)}, []int{0}, []int{0}
			eps := make([]core.Endpoint, 1)
			fns = append(fns, func() (int, error) { return fn(bufs, sizes, segs, eps) })
		}
	})
	if b == nil || b.routes == nil {
		t.Fatal("no Bind or no route watcher")
	}
	defer b.Close()
	got := make(chan struct{}, 4096)
	for _, fn := range fns {
		go func() {
			for {
				n, err := fn()
				if err != nil {
					return
				}
				for range n {
					got <- struct{}{}
				}
			}
		}()
	}
	const changes = 10000
	var script strings.Builder
	for i := range changes / 2 {
		fmt.Fprintf(&script, "route add 10.%d.%d.0/24 dev fl0\nroute del 10.%d.%d.0/24 dev fl0\n", 100+i/256, i%256, 100+i/256, i%256)
	}
	batch := filepath.Join(t.TempDir(), "routes")
	if err := os.WriteFile(batch, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	flood := exec.Command("ip", "-n", ns, "-batch", batch)
	start := time.Now()
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	floodDone := make(chan error, 1)
	go func() { floodDone <- flood.Wait() }()
	ep := NewEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), netip.MustParseAddr("127.0.0.1"), 1)
	sent := 0
	for flooding := true; flooding || sent < 200; {
		select {
		case err := <-floodDone:
			if err != nil {
				t.Fatalf("ip -batch: %v", err)
			}
			flooding = false
		default:
		}
		if err := b.Send([][]byte{[]byte("x")}, ep); err != nil {
			t.Fatalf("Send during the flood: %v", err)
		}
		sent++
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("datagram %d did not arrive during the route flood", sent)
		}
	}
	elapsed := time.Since(start)
	seen, passes := b.routes.changes.Load(), b.routes.passes.Load()
	t.Logf("%d route changes in %v: %d notifications read, %d lookup passes, %d datagrams sent and received", changes, elapsed.Round(time.Millisecond), seen, passes, sent)
	if seen == 0 {
		t.Fatal("the watcher saw no routing change")
	}
	if limit := uint64(elapsed/routeResolveInterval) + 3; passes > limit {
		t.Fatalf("%d lookup passes in %v, want at most %d (coalesced)", passes, elapsed, limit)
	}
}

// TestKeepSourceMemo drives keepSource against tables published by hand
// (no rtnetlink): an endpoint's remembered answer is used while its table
// is current and dropped when a new table is published, and a destination
// not yet looked up is queued even though its answer is remembered.
func TestKeepSourceMemo(t *testing.T) {
	w := &routeWatch{want: make(map[netip.Addr]struct{}), kick: make(chan struct{}, 1)}
	dst := netip.MustParseAddr("192.0.2.1")
	ep := NewEndpoint(netip.AddrPortFrom(dst, 51820), netip.MustParseAddr("192.0.2.2"), 3)
	memo := &ep.routeMemo

	w.routes.Store(newRouteTable(map[netip.Addr]int32{}))
	if !w.keepSource(dst, 3, memo) {
		t.Fatal("a destination not looked up yet lost its source")
	}
	if _, ok := w.want[dst]; !ok || len(w.kick) != 1 {
		t.Fatal("a destination not looked up yet was not queued")
	}
	<-w.kick

	// The pass finds the route leaving through interface 4.
	w.routes.Store(newRouteTable(map[netip.Addr]int32{dst: 4}))
	if w.keepSource(dst, 3, memo) {
		t.Fatal("source kept although the route leaves through another interface")
	}
	gen := w.routes.Load().gen
	if v := memo.Load(); v != gen<<1 {
		t.Fatalf("memo = %#x, want %#x (generation %d, drop)", v, gen<<1, gen)
	}
	// While the table is current the memo answers: a table changed in
	// place (which the watcher never does) is not looked at.
	w.routes.Load().oifs[dst] = 3
	if w.keepSource(dst, 3, memo) {
		t.Fatal("the remembered answer was not used")
	}
	if !w.keepSource(dst, 3, nil) {
		t.Fatal("without a memo the table was not looked at")
	}

	// A new table replaces the remembered answer.
	w.routes.Store(newRouteTable(map[netip.Addr]int32{dst: 3}))
	if !w.keepSource(dst, 3, memo) {
		t.Fatal("a remembered answer outlived its table")
	}
	if v := memo.Load(); v != w.routes.Load().gen<<1|1 {
		t.Fatalf("memo = %#x after the new table", v)
	}

	// Another watch's table never matches a memo, even one of the same
	// content: generations are process-wide.
	w2 := &routeWatch{want: make(map[netip.Addr]struct{}), kick: make(chan struct{}, 1)}
	w2.routes.Store(newRouteTable(map[netip.Addr]int32{dst: 4}))
	if w2.keepSource(dst, 3, memo) {
		t.Fatal("a memo from one watch answered for another")
	}
}

// TestKeepSourceMemoRace sends on one endpoint from several goroutines
// while tables are replaced, for the race detector; once replacing stops,
// every answer matches the last table.
func TestKeepSourceMemoRace(t *testing.T) {
	w := &routeWatch{want: make(map[netip.Addr]struct{}), kick: make(chan struct{}, 1)}
	dst := netip.MustParseAddr("192.0.2.1")
	ep := NewEndpoint(netip.AddrPortFrom(dst, 51820), netip.MustParseAddr("192.0.2.2"), 3)
	w.routes.Store(newRouteTable(map[netip.Addr]int32{dst: 3}))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					w.keepSource(dst, 3, &ep.routeMemo)
				}
			}
		}()
	}
	for i := range 200 {
		w.routes.Store(newRouteTable(map[netip.Addr]int32{dst: int32(3 + i%2)}))
	}
	close(stop)
	wg.Wait()
	want := w.routes.Load().oifs[dst] == 3
	if got := w.keepSource(dst, 3, &ep.routeMemo); got != want {
		t.Fatalf("after the last table: keep = %v, want %v", got, want)
	}
}

// routeKnown reports whether b's route watcher has looked dst up.
func routeKnown(b *Bind, dst netip.Addr) bool {
	b.mu.RLock()
	w := b.routes
	b.mu.RUnlock()
	if w == nil {
		return false
	}
	_, ok := w.routes.Load().oifs[dst]
	return ok
}

// newBenchWatch is a watcher without goroutines whose table routes dst
// through interface oif.
func newBenchWatch(dst netip.Addr, oif int32) *routeWatch {
	w := &routeWatch{want: make(map[netip.Addr]struct{}), kick: make(chan struct{}, 1)}
	w.routes.Store(newRouteTable(map[netip.Addr]int32{dst: oif}))
	return w
}

// benchKeep is keepSource as Send calls it for ep.
func benchKeep(w *routeWatch, ep *Endpoint) bool {
	return w.keepSource(ep.DstAddrPort().Addr(), int32(ep.SrcIfindex()), &ep.routeMemo)
}
