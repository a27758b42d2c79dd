// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A sticky source is the local address a peer last wrote to, learnt with
// the interface it arrived on. The kernel's own WireGuard drops it when the
// route to the peer now leaves through another interface (a more specific
// route, an address gone, a link down) and lets the route pick the source
// instead. The routeWatch does the same for the Bind without a route
// lookup per send: it follows route, address, link and rule changes over
// rtnetlink, and after each burst of changes asks the kernel, once per
// destination the Bind sends to, which interface the route to it leaves
// through (under the Bind's firewall mark, so that a wg-quick policy route
// is seen as the socket sees it). Send compares that with the interface
// the sticky source was learnt on: a mismatch sends without the source.
// Each pass publishes a new table with a new generation, and an Endpoint
// remembers the answer it got and the generation it came from, so the data
// path's steady state is two atomic loads and a compare; a map lookup only
// runs on the first send to an endpoint after each pass. However many
// changes arrive, lookups run at most once per routeResolveInterval.

// routeResolveInterval is the least time between two passes over the
// watched destinations: a flood of route changes costs at most one pass
// per interval, never a stall of the data path.
const routeResolveInterval = 50 * time.Millisecond

// maxWatchedDsts bounds the destinations the watcher looks up, so that a
// Bind sending to very many addresses cannot grow it without limit; beyond
// it, sticky sources of further destinations are kept as learnt.
const maxWatchedDsts = 1024

// routeGroups are the rtnetlink multicast groups whose messages can change
// the route to a peer: IPv4/IPv6 routes and addresses, links, IPv4 and
// IPv6 policy rules.
const routeGroups = unix.RTMGRP_IPV4_ROUTE | unix.RTMGRP_IPV6_ROUTE |
	unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR | unix.RTMGRP_LINK |
	unix.RTMGRP_IPV4_RULE | 1<<(unix.RTNLGRP_IPV6_RULE-1)

// routeTable is the result of one lookup pass. It is never changed once
// published: the next pass publishes a new one.
type routeTable struct {
	// gen tells tables apart, across all watches of the process, so that
	// an answer an Endpoint remembers from one table never passes for
	// another's (see keepSource). It is never 0.
	gen uint64
	// oifs maps each watched destination to the index of the interface its
	// route leaves through (0: no route or not known).
	oifs map[netip.Addr]int32
}

// routeGens numbers route tables.
var routeGens atomic.Uint64

func newRouteTable(oifs map[netip.Addr]int32) *routeTable {
	return &routeTable{gen: routeGens.Add(1), oifs: oifs}
}

// routeWatch follows routing changes for one open Bind.
type routeWatch struct {
	routes atomic.Pointer[routeTable]
	mark   func() uint32

	mu   sync.Mutex
	want map[netip.Addr]struct{}
	full atomic.Bool

	sub     *os.File // subscription, registered with the poller
	subRC   syscall.RawConn
	query   int // a second rtnetlink socket for RTM_GETROUTE, blocking
	seq     uint32
	kick    chan struct{}
	done    chan struct{}
	stopped sync.WaitGroup

	changes atomic.Uint64 // routing notifications seen
	passes  atomic.Uint64 // lookup passes run
}

// newRouteWatch subscribes to routing changes in the calling thread's
// network namespace (the one the Bind's sockets are in) and starts the
// watcher. mark reports the Bind's current firewall mark.
func newRouteWatch(mark func() uint32) (*routeWatch, error) {
	sfd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("udp: netlink socket: %w", err)
	}
	if err := unix.Bind(sfd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: routeGroups}); err != nil {
		unix.Close(sfd)
		return nil, fmt.Errorf("udp: subscribe to routing changes: %w", err)
	}
	qfd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		unix.Close(sfd)
		return nil, fmt.Errorf("udp: netlink socket: %w", err)
	}
	// A lookup that gets no answer must not hold the watcher forever.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(qfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(sfd)
		unix.Close(qfd)
		return nil, fmt.Errorf("udp: netlink timeout: %w", err)
	}
	f := os.NewFile(uintptr(sfd), "rtnetlink-routes")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		unix.Close(qfd)
		return nil, err
	}
	w := &routeWatch{
		mark:  mark,
		want:  make(map[netip.Addr]struct{}),
		sub:   f,
		subRC: rc,
		query: qfd,
		kick:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	w.routes.Store(newRouteTable(map[netip.Addr]int32{}))
	w.stopped.Add(2)
	go w.listen()
	go w.resolveLoop()
	return w, nil
}

// close stops both goroutines and closes the sockets.
func (w *routeWatch) close() {
	close(w.done)
	w.sub.Close() // wakes listen
	w.stopped.Wait()
	unix.Close(w.query)
}

// keepSource reports whether a sticky source learnt on interface ifindex
// may still be used to reach dst: true unless the route to dst is known to
// leave through another interface. A destination not looked up yet is
// queued for the next pass and keeps its source meanwhile.
//
// memo, when not nil, is the route memo of the Endpoint whose destination
// and source interface dst and ifindex are (both fixed for its lifetime):
// it holds the current table's generation shifted left by one with the
// answer in bit 0, so that the next send to the endpoint skips the map
// until another pass publishes a new table. Sends on many goroutines may
// race to store it; each stores an answer true for the generation it
// stores, and a stale one only costs a lookup.
func (w *routeWatch) keepSource(dst netip.Addr, ifindex int32, memo *atomic.Uint64) bool {
	if ifindex == 0 || dst.IsLinkLocalUnicast() {
		return true
	}
	t := w.routes.Load()
	if memo != nil {
		if v := memo.Load(); v>>1 == t.gen {
			return v&1 != 0
		}
	}
	keep := w.keepIn(t, dst, ifindex)
	if memo != nil {
		v := t.gen << 1
		if keep {
			v |= 1
		}
		memo.Store(v)
	}
	return keep
}

// keepIn is keepSource's answer from table t. Remembering a "keep" for a
// destination that is only queued is safe: the pass that looks it up
// publishes a new table.
func (w *routeWatch) keepIn(t *routeTable, dst netip.Addr, ifindex int32) bool {
	if oif, ok := t.oifs[dst]; ok {
		return oif == 0 || oif == ifindex
	}
	if w.full.Load() {
		return true
	}
	w.mu.Lock()
	if len(w.want) >= maxWatchedDsts {
		w.full.Store(true)
	} else {
		w.want[dst] = struct{}{}
	}
	w.mu.Unlock()
	w.poke()
	return true
}

func (w *routeWatch) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// listen reads notifications and pokes the resolver for every burst that
// touches routing. It never looks anything up itself, so it keeps up with
// any rate the kernel sends at.
func (w *routeWatch) listen() {
	defer w.stopped.Done()
	buf := make([]byte, 1<<16)
	for {
		var n int
		var rerr error
		err := w.subRC.Read(func(fd uintptr) bool {
			var from unix.Sockaddr
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			if rerr == nil {
				// Only the kernel speaks for the routing table.
				if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
					n = 0
				}
			}
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if errors.Is(rerr, unix.ENOBUFS) {
			// Notifications were lost: assume the worst.
			w.changes.Add(1)
			w.poke()
			continue
		}
		if rerr != nil {
			return
		}
		relevant := false
		_ = splitNetlink(buf[:n], func(m nlMessage) {
			if isRoutingChange(m.typ) {
				relevant = true
			}
		})
		if relevant {
			w.changes.Add(1)
			w.poke()
		}
	}
}

// resolveLoop runs a lookup pass per poke, at most one per
// routeResolveInterval: pokes that arrive meanwhile fold into the next.
func (w *routeWatch) resolveLoop() {
	defer w.stopped.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-w.kick:
		case <-w.done:
			return
		}
		w.resolve()
		t.Reset(routeResolveInterval)
		select {
		case <-t.C:
		case <-w.done:
			return
		}
	}
}

// resolve looks up the route to every watched destination and publishes
// the result in one piece.
func (w *routeWatch) resolve() {
	w.passes.Add(1)
	w.mu.Lock()
	dsts := make([]netip.Addr, 0, len(w.want))
	for d := range w.want {
		dsts = append(dsts, d)
	}
	w.mu.Unlock()
	mark := w.mark()
	next := make(map[netip.Addr]int32, len(dsts))
	for _, d := range dsts {
		ri, err := w.lookup(d, mark)
		if err != nil {
			ri.oif = 0 // unknown: sources are kept
		}
		next[d] = ri.oif
	}
	w.routes.Store(newRouteTable(next))
}

// lookup asks the kernel for its route to dst under mark.
func (w *routeWatch) lookup(dst netip.Addr, mark uint32) (routeInfo, error) {
	w.seq++
	seq := w.seq
	req := appendGetRoute(nil, dst, mark, seq)
	if err := unix.Sendto(w.query, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return routeInfo{}, err
	}
	buf := make([]byte, 4096)
	for {
		n, from, err := unix.Recvfrom(w.query, buf, 0)
		if err != nil {
			return routeInfo{}, err
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue
		}
		var (
			ri    routeInfo
			done  bool
			found bool
			rerr  error
		)
		perr := splitNetlink(buf[:n], func(m nlMessage) {
			if m.seq != seq || done {
				return
			}
			switch m.typ {
			case unix.RTM_NEWROUTE:
				ri, found, rerr = parseRoute(m.body)
				done = true
			case unix.NLMSG_ERROR:
				rerr = errNoRoute
				done = true
			}
		})
		if done {
			if rerr == nil && !found {
				rerr = errNoRoute
			}
			return ri, rerr
		}
		if perr != nil {
			return routeInfo{}, perr
		}
	}
}

// errNoRoute is a lookup that found no route (or an unusable answer).
var errNoRoute = errors.New("udp: no route")
