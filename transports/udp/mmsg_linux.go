// SPDX-License-Identifier: MIT

//go:build linux

package udp

// The batched data path: recvmmsg/sendmmsg through the socket's
// syscall.RawConn, so that Go's network poller still parks a goroutine
// while the socket is empty (or full) and Close still wakes it.
//
// Every buffer the kernel touches (mmsghdrs, iovecs, addresses, control
// messages) is allocated once per receive function or per pooled send batch,
// and the callbacks given to RawConn.Read/Write are built once too: a closure
// made per call would escape and cost an allocation per batch.
//
// Offloads (offload_linux.go): with UDP GSO a run of equal-sized datagrams
// to one endpoint leaves as one mmsghdr with an iovec per datagram and a
// UDP_SEGMENT control message, which the kernel sends through its stack as
// one packet and cuts at the last moment; with UDP GRO the kernel hands
// over runs of datagrams from one sender as one buffer plus the segment
// size, which receive cuts back into datagrams.

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// sock is one open UDP socket of the Bind.
type sock struct {
	conn *net.UDPConn
	rc   syscall.RawConn
	is6  bool
	port uint16
	// gso is whether sends use UDP_SEGMENT; cleared for good if the kernel
	// fails a segmented send with EIO (no checksum offload on the route's
	// device). gro is whether UDP_GRO was switched on at Open.
	gso atomic.Bool
	gro bool
	// pool holds *sendBatch; Send may run on many goroutines at once.
	pool sync.Pool
	// hs is the socket on the same port that handshake messages are
	// steered to (hsock_linux.go), or nil; it is only read from.
	hs *sock
}

// recvOOBSize is the control message space per received datagram: one
// packet-info message of the larger (IPv6) kind and, with GRO, the segment
// size (an int).
var recvOOBSize = unix.CmsgSpace(unix.SizeofInet6Pktinfo) + unix.CmsgSpace(4)

// receiver is the state of one receive function. Its mutex makes concurrent
// calls safe, though the engine drives each from a single goroutine.
type receiver struct {
	mu    sync.Mutex
	s     *sock
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oob   []byte
	cache epCache

	// Set before and after each RawConn.Read by receive and readFn.
	count int
	n     int
	errno syscall.Errno
	read  func(fd uintptr) bool

	// want is the receive window: how many messages the next recvmmsg
	// asks for (see adapt). dirty is how many headers, from the first,
	// the kernel may have written since prepare last reset them.
	want  int
	dirty int

	// With GRO the kernel writes into the receiver's own buffers, as a
	// coalesced message may hold more datagrams than the caller has room
	// for; what does not fit waits here for the next call.
	gro groState
}

// minRecvWindow is the smallest receive window: enough for the handful of
// datagrams a lightly loaded tunnel finds per read, small enough that a
// read of one touches a few cache lines of headers rather than all
// batchSize of them.
const minRecvWindow = 8

func newReceiver(s *sock) *receiver {
	r := &receiver{
		s:     s,
		msgs:  make([]unix.Mmsghdr, batchSize),
		iovs:  make([]unix.Iovec, batchSize),
		names: make([]unix.RawSockaddrInet6, batchSize),
		oob:   make([]byte, batchSize*recvOOBSize),
		want:  minRecvWindow,
	}
	// Header i always points at name, iovec and control space i, and the
	// kernel never writes these pointers back, so they are set once here;
	// prepare only rewrites what a read changed.
	for i := range r.msgs {
		h := &r.msgs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Control = &r.oob[i*recvOOBSize]
		h.SetControllen(recvOOBSize)
	}
	r.read = r.readFn
	return r
}

// prepare readies the first len(bufs) headers to receive into bufs and sets
// count. recvmmsg writes msg_len, msg_namelen, msg_controllen and msg_flags
// of the messages it fills and nothing else, so only the lengths of the
// headers the last read filled are reset, and an iovec is only rewritten
// when its buffer changed (the caller swaps in a spare for a buffer it
// kept, or the GRO path used its own buffers): on a read of one datagram
// that saves a pass of pointer writes over every header.
func (r *receiver) prepare(bufs [][]byte) {
	for i := range r.dirty {
		h := &r.msgs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(recvOOBSize)
		h.Flags = 0
	}
	r.dirty = 0
	for i, b := range bufs {
		if iov := &r.iovs[i]; !iovHolds(iov, b) {
			setIov(iov, b)
		}
	}
	r.count = len(bufs)
}

// recv runs recvmmsg on the prepared headers and records which ones the
// kernel may have written.
func (r *receiver) recv() error {
	// Until a read reports how many it filled, assume all of them.
	r.dirty = r.count
	if err := r.s.rc.Read(r.read); err != nil {
		return closedOr(err)
	}
	if r.errno != 0 {
		return os.NewSyscallError("recvmmsg", r.errno)
	}
	r.dirty = r.n
	return nil
}

// adapt sizes the receive window after a read of n messages into a window
// of r.want. A read that fills the window likely left more behind, so the
// window opens fully at once: a burst costs one extra system call, and a
// busy socket is read batchSize at a time as before. Reads that fill a
// quarter of it or less halve it, down to minRecvWindow.
func (r *receiver) adapt(n int) {
	switch {
	case n >= r.want:
		r.want = batchSize
	case n <= r.want/4:
		r.want = max(r.want/2, minRecvWindow)
	}
}

// readFn runs recvmmsg on the socket. Returning false tells the poller to
// wait for the socket to become readable and call again.
func (r *receiver) readFn(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(r.count), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		r.n, r.errno = int(n), errno
		return true
	}
}

// receive is the core.ReceiveFunc of one socket.
func (r *receiver) receive(packets [][]byte, sizes, segs []int, eps []core.Endpoint) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	count := min(len(packets), len(sizes), len(segs), len(eps), batchSize)
	if count == 0 {
		return 0, nil
	}
	// Straight into the caller's buffers, as many as the window allows;
	// with GRO each must hold a whole coalesced message, which the engine
	// cuts at segs[i]. Otherwise the GRO path copies out of its own
	// buffers, filling as many of the caller's as there are datagrams.
	direct := packets[:min(count, r.want)]
	if r.s.gro && (r.gro.next < r.gro.n || !holdsCoalesced(direct)) {
		return r.receiveGRO(packets[:count], sizes, segs, eps)
	}
	r.prepare(direct)
	if err := r.recv(); err != nil {
		return 0, err
	}
	r.adapt(r.n)
	for i := range r.n {
		m := &r.msgs[i]
		sizes[i] = int(m.Len)
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			// Larger than the buffer: no WireGuard message is, so report it
			// empty and let the engine drop it.
			sizes[i] = 0
		}
		oob := r.oob[i*recvOOBSize:][:min(int(m.Hdr.Controllen), recvOOBSize)]
		segs[i] = 0
		if r.s.gro {
			if seg := parseGROSize(oob); seg > 0 && seg < sizes[i] {
				segs[i] = seg
			}
		}
		src, ifindex := parsePktinfo(oob)
		eps[i] = r.cache.get(epKey{dst: sockaddrToAddrPort(&r.names[i]), src: src, ifindex: ifindex})
	}
	return r.n, nil
}

// closedOr maps the poller's "use of closed connection" to net.ErrClosed, as
// core.ReceiveFunc promises.
func closedOr(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return net.ErrClosed
	}
	return err
}

// iovHolds reports whether iov already describes b as setIov would.
func iovHolds(iov *unix.Iovec, b []byte) bool {
	if len(b) == 0 {
		return iov.Base == nil && iov.Len == 0
	}
	return iov.Base == &b[0] && uint64(iov.Len) == uint64(len(b))
}

// setIov points iov at b. An empty buffer gets a nil base: &b[0] would
// panic, and the kernel does not look at the base of a zero-length iovec.
func setIov(iov *unix.Iovec, b []byte) {
	if len(b) == 0 {
		iov.Base = nil
		iov.SetLen(0)
		return
	}
	iov.Base = &b[0]
	iov.SetLen(len(b))
}

// sockaddrToAddrPort decodes a received source address. An IPv6 scope ID
// becomes the zone, so a reply to a link-local peer goes out the right link.
func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), portFromNet(&sa4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			// strconv returns small numbers without allocating.
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a.Unmap(), portFromNet(&sa.Port))
	}
	return netip.AddrPort{}
}

// portFromNet reads a port stored in network byte order.
func portFromNet(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// portToNet stores a port in network byte order.
func portToNet(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// parsePktinfo walks the control messages of one datagram and returns the
// local address it was sent to and the interface it arrived on. It never
// reads past oob, whatever the kernel (or a bug) put in the lengths.
func parsePktinfo(oob []byte) (netip.Addr, int32) {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(oob) {
			break
		}
		data := oob[hdrLen:l]
		switch {
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			pi := (*unix.Inet4Pktinfo)(unsafe.Pointer(&data[0]))
			// Spec_dst rather than Addr: for a datagram sent to a broadcast
			// address it holds the local unicast address a reply can use.
			return netip.AddrFrom4(pi.Spec_dst), pi.Ifindex
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			pi := (*unix.Inet6Pktinfo)(unsafe.Pointer(&data[0]))
			return netip.AddrFrom16(pi.Addr), int32(pi.Ifindex)
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return netip.Addr{}, 0
}

// sendOOBSize is the control message space of one sent message: a packet
// info and a UDP_SEGMENT size.
var (
	pktinfoSpace = unix.CmsgSpace(unix.SizeofInet6Pktinfo)
	sendOOBSize  = pktinfoSpace + unix.CmsgSpace(2)
)

// sendBatch is the kernel-facing state of one Send call, pooled per socket.
// Every datagram of a batch goes to the same address with the same source,
// so the mmsghdrs share one sockaddr and start their control messages with
// the same packet info; each has room for its own segment size after it.
type sendBatch struct {
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	segs  []int // datagrams in each message
	name  unix.RawSockaddrInet6
	oob   []byte
	pilen int // length of the packet info at the start of each oob slot
	// niov is how many iovecs from the first may point at a caller's
	// buffers, so that release clears those and not all batchSize.
	niov int

	// Set before and after each RawConn.Write by send and writeFn.
	start, count int
	n            int
	errno        syscall.Errno
	write        func(fd uintptr) bool
}

func newSendBatch() *sendBatch {
	sb := &sendBatch{
		msgs: make([]unix.Mmsghdr, batchSize),
		iovs: make([]unix.Iovec, batchSize),
		segs: make([]int, batchSize),
		oob:  make([]byte, batchSize*sendOOBSize),
	}
	sb.write = sb.writeFn
	return sb
}

// writeFn runs sendmmsg for the messages not yet sent.
func (sb *sendBatch) writeFn(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&sb.msgs[sb.start])), uintptr(sb.count-sb.start), 0, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		sb.n, sb.errno = int(n), errno
		return true
	}
}

// send sends bufs to dst, with src as the source address when it is valid,
// and returns how many datagrams the kernel took. With GSO on, each run of
// datagrams of one size (the last of a run may be shorter) is one message.
func (s *sock) send(bufs [][]byte, dst netip.AddrPort, src netip.Addr, ifindex int32) (sent int, err error) {
	sb := s.pool.Get().(*sendBatch)
	defer s.release(sb)
	nameLen, err := sb.setName(dst, s.is6)
	if err != nil {
		return 0, err
	}
	sb.setSource(src, ifindex)
	gso := s.gso.Load()
	for sent < len(bufs) {
		sb.build(bufs[sent:], nameLen, gso, s.is6)
		for sb.start < sb.count {
			if err := s.rc.Write(sb.write); err != nil {
				return sent, closedOr(err)
			}
			if sb.errno != 0 {
				if sb.segs[sb.start] > 1 && gsoFailed(sb.errno) {
					// Send the rest one datagram per message. EIO means
					// the device cannot checksum for us: off for good.
					if sb.errno == unix.EIO {
						s.gso.Store(false)
					}
					gso = false
					break
				}
				return sent, os.NewSyscallError("sendmmsg", sb.errno)
			}
			if sb.n <= 0 {
				return sent, os.NewSyscallError("sendmmsg", unix.EIO)
			}
			for _, k := range sb.segs[sb.start : sb.start+sb.n] {
				sent += k
			}
			sb.start += sb.n
		}
	}
	return sent, nil
}

// release returns sb to the pool without references to the caller's
// buffers, clearing only the iovecs the call used.
func (s *sock) release(sb *sendBatch) {
	clear(sb.iovs[:sb.niov])
	sb.niov = 0
	s.pool.Put(sb)
}

// gsoFailed reports whether a send error may be the segmentation's fault:
// EIO from a device without checksum offload, EINVAL or EMSGSIZE for a
// segment larger than the path allows (which unsegmented would have been
// fragmented instead).
func gsoFailed(errno syscall.Errno) bool {
	return errno == unix.EIO || errno == unix.EINVAL || errno == unix.EMSGSIZE
}

// build fills the batch's messages from the front of bufs, at most
// batchSize datagrams.
func (sb *sendBatch) build(bufs [][]byte, nameLen uint32, gso, is6 bool) {
	maxBytes := maxGSOBytes4
	if is6 {
		maxBytes = maxGSOBytes6
	}
	bufs = bufs[:min(len(bufs), batchSize)]
	m, d := 0, 0
	for d < len(bufs) {
		// A run: datagrams of the first one's size, ending after the
		// first shorter one, within the kernel's segment and size limits.
		run, size, total := 1, len(bufs[d]), len(bufs[d])
		if gso && size > 0 {
			for d+run < len(bufs) && run < maxGSOSegments {
				l := len(bufs[d+run])
				if l > size || l == 0 || total+l > maxBytes {
					break
				}
				run++
				total += l
				if l < size {
					break
				}
			}
		}
		for k := range run {
			setIov(&sb.iovs[d+k], bufs[d+k])
		}
		h := &sb.msgs[m].Hdr
		h.Name = (*byte)(unsafe.Pointer(&sb.name))
		h.Namelen = nameLen
		h.Iov = &sb.iovs[d]
		h.SetIovlen(run)
		oob := sb.oob[m*sendOOBSize : (m+1)*sendOOBSize]
		oobLen := sb.pilen
		if m > 0 && sb.pilen > 0 {
			copy(oob[:sb.pilen], sb.oob[:sb.pilen])
		}
		if run > 1 {
			oobLen += putSegmentSize(oob[sb.pilen:], uint16(size))
		}
		if oobLen > 0 {
			h.Control = &oob[0]
		} else {
			h.Control = nil
		}
		h.SetControllen(oobLen)
		h.Flags = 0
		sb.segs[m] = run
		m++
		d += run
	}
	sb.start, sb.count = 0, m
	sb.niov = max(sb.niov, d)
}

// setName encodes dst as the batch's destination sockaddr.
func (sb *sendBatch) setName(dst netip.AddrPort, is6 bool) (uint32, error) {
	if !is6 {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sb.name))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.Addr().As4()}
		portToNet(&sa.Port, dst.Port())
		return unix.SizeofSockaddrInet4, nil
	}
	sb.name = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.Addr().As16()}
	if z := dst.Addr().Zone(); z != "" {
		idx, err := zoneIndex(z)
		if err != nil {
			return 0, err
		}
		sb.name.Scope_id = idx
	}
	portToNet(&sb.name.Port, dst.Port())
	return unix.SizeofSockaddrInet6, nil
}

// zoneIndex turns an IPv6 zone (an interface index as received, or a name
// as a user may write it) into a scope ID.
func zoneIndex(zone string) (uint32, error) {
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, err
	}
	return uint32(ifi.Index), nil
}

// setSource writes the packet-info control message that makes the kernel
// send from src at the start of the first oob slot and records its length
// (0 when src is not valid); build copies it to the other slots.
//
// For IPv4 only the address is set, not the interface: pinning the
// interface the request came in on would break hosts that route replies out
// another way. IPv6 needs the interface for a link-local source, whose
// address alone is ambiguous.
func (sb *sendBatch) setSource(src netip.Addr, ifindex int32) {
	sb.pilen = sb.putPktinfo(src, ifindex)
}

func (sb *sendBatch) putPktinfo(src netip.Addr, ifindex int32) int {
	if !src.IsValid() {
		return 0
	}
	clear(sb.oob[:pktinfoSpace])
	h := (*unix.Cmsghdr)(unsafe.Pointer(&sb.oob[0]))
	data := unsafe.Pointer(&sb.oob[unix.CmsgLen(0)])
	if src.Is4() {
		h.Level, h.Type = unix.IPPROTO_IP, unix.IP_PKTINFO
		h.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
		(*unix.Inet4Pktinfo)(data).Spec_dst = src.As4()
		return unix.CmsgSpace(unix.SizeofInet4Pktinfo)
	}
	h.Level, h.Type = unix.IPPROTO_IPV6, unix.IPV6_PKTINFO
	h.SetLen(unix.CmsgLen(unix.SizeofInet6Pktinfo))
	pi := (*unix.Inet6Pktinfo)(data)
	pi.Addr = src.As16()
	if src.IsLinkLocalUnicast() && ifindex > 0 {
		pi.Ifindex = uint32(ifindex)
	}
	return unix.CmsgSpace(unix.SizeofInet6Pktinfo)
}
