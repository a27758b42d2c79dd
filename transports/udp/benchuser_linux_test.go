// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"fmt"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/wgplex/wgplex/internal/coldbench"
	"golang.org/x/sys/unix"
)

// The user-space side of the data path alone: a stand-in for the socket
// answers every recvmmsg with one datagram and takes every sendmmsg whole,
// so that the figures are not drowned in system call time.

// fakeKernel is a syscall.RawConn whose Read plays a recvmmsg that
// delivers datagrams from 127.0.0.1 with packet info, and whose Write a
// sendmmsg that sends everything.
type fakeKernel struct {
	r    *receiver
	sb   *sendBatch
	fill int // datagrams a read delivers, at most as many as asked for; at least 1
}

func (k *fakeKernel) Control(func(fd uintptr)) error { return nil }

func (k *fakeKernel) Read(func(fd uintptr) bool) error {
	r := k.r
	n := min(r.count, max(k.fill, 1))
	for i := range n {
		m := &r.msgs[i]
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.names[i]))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: [4]byte{127, 0, 0, 1}}
		portToNet(&sa.Port, 51820)
		m.Hdr.Namelen = unix.SizeofSockaddrInet4
		oob := r.oob[i*recvOOBSize:]
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&oob[unix.CmsgLen(0)]))
		*pi = unix.Inet4Pktinfo{Ifindex: 1, Spec_dst: [4]byte{127, 0, 0, 1}}
		m.Hdr.SetControllen(unix.CmsgSpace(unix.SizeofInet4Pktinfo))
		m.Hdr.Flags = 0
		m.Len = 128
	}
	r.n, r.errno = n, 0
	return nil
}

func (k *fakeKernel) Write(func(fd uintptr) bool) error {
	k.sb.n, k.sb.errno = k.sb.count-k.sb.start, 0
	return nil
}

// BenchmarkRecvUser is receive's own work for reads of one datagram with
// a batch of batchSize buffers, as a ping's hop does it, and for reads that
// fill the batch.
func BenchmarkRecvUser(b *testing.B) {
	for _, tc := range []struct {
		fill int
		cold bool
	}{{1, false}, {1, true}, {batchSize, false}} {
		b.Run(fmt.Sprintf("n=%d/cold=%v", tc.fill, tc.cold), func(b *testing.B) {
			k := &fakeKernel{fill: tc.fill}
			r := newReceiver(&sock{rc: k})
			k.r = r
			bufs, sizes, segs, eps := benchBufs()
			coldbench.Loop(b, tc.cold, func() {
				if n, err := r.receive(bufs, sizes, segs, eps); n < 1 || err != nil {
					b.Fatalf("received %d: %v", n, err)
				}
			})
		})
	}
}

// BenchmarkSendUser is sock.send's own work for one datagram with a
// sticky source.
func BenchmarkSendUser(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			k := &fakeKernel{}
			s := &sock{rc: k}
			s.pool.New = func() any {
				sb := newSendBatch()
				k.sb = sb
				return sb
			}
			dg := [][]byte{make([]byte, 128)}
			dst := netip.MustParseAddrPort("127.0.0.1:51820")
			src := netip.MustParseAddr("127.0.0.1")
			coldbench.Loop(b, cold, func() {
				if n, err := s.send(dg, dst, src, 1); n != 1 || err != nil {
					b.Fatalf("sent %d: %v", n, err)
				}
			})
		})
	}
}

// BenchmarkKeepSource is the route watcher's check on a send to an
// endpoint whose destination it has looked up.
func BenchmarkKeepSource(b *testing.B) {
	for _, cold := range []bool{false, true} {
		b.Run(fmt.Sprintf("cold=%v", cold), func(b *testing.B) {
			dst := netip.MustParseAddr("192.0.2.1")
			ep := NewEndpoint(netip.AddrPortFrom(dst, 51820), netip.MustParseAddr("192.0.2.2"), 3)
			w := newBenchWatch(dst, 3)
			coldbench.Loop(b, cold, func() {
				if !benchKeep(w, ep) {
					b.Fatal("source dropped")
				}
			})
		})
	}
}
