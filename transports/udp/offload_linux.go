// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// UDP offloads. GSO (UDP_SEGMENT, Linux 4.18+) lets one sendmmsg message
// carry a run of equal-sized datagrams that the kernel routes, filters and
// hands to the device once, cutting it into datagrams at the end (or not at
// all, if the device or a veth peer takes it whole). GRO (UDP_GRO, Linux
// 5.0+) is the receive side: datagrams of one flow that arrive together,
// or a GSO packet from a local sender, come up as one buffer with the
// segment size, which receiveGRO cuts apart. Both are probed at Open and
// can be switched off:
//
//	WGPLEX_UDP_GSO=off   every datagram is its own message
//	WGPLEX_UDP_GRO=off   UDP_GRO is not set; datagrams arrive one by one
//
// ("off", "0", "false" or "no"). A kernel that fails a segmented send with
// EIO (its device cannot checksum for it) switches GSO off on that socket.

// Kernel limits of one GSO send: UDP_MAX_SEGMENTS in older kernels, and the
// payload an IPv4 total length or IPv6 payload length can describe.
const (
	maxGSOSegments = 64
	maxGSOBytes4   = 65535 - 20 - 8
	maxGSOBytes6   = 65535 - 8
)

// Keys of Bind.Offloads.
const (
	// OffloadGSO: runs of datagrams are sent with UDP_SEGMENT.
	OffloadGSO = "udp_gso"
	// OffloadGRO: coalesced datagrams are received with UDP_GRO.
	OffloadGRO = "udp_gro"
	// OffloadHandshakeSocket: handshake messages arrive on a socket of
	// their own (hsock_linux.go). Not an offload of the kernel's, but
	// like one it is asked for, may be refused by an old kernel, and an
	// operator wants to see which happened.
	OffloadHandshakeSocket = "udp_handshake_socket"
)

// probeOffloads switches on what opts allow and the kernel supports on a
// fresh socket, before bind.
func probeOffloads(fd int, opts Options) (gso, gro bool) {
	if !opts.NoGSO {
		// Reading the option succeeds exactly where sending with it works.
		_, err := unix.GetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT)
		gso = err == nil
	}
	if !opts.NoGRO {
		gro = unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
	}
	return gso, gro
}

// Offloads reports which offloads the Bind's sockets have on, keyed by
// OffloadGSO, OffloadGRO and OffloadHandshakeSocket; for metrics. A closed
// Bind reports all off.
func (b *Bind) Offloads() map[string]bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	m := map[string]bool{OffloadGSO: false, OffloadGRO: false, OffloadHandshakeSocket: false}
	for _, s := range []*sock{b.v4, b.v6} {
		if s != nil {
			m[OffloadGSO] = m[OffloadGSO] || s.gso.Load()
			m[OffloadGRO] = m[OffloadGRO] || s.gro
			m[OffloadHandshakeSocket] = m[OffloadHandshakeSocket] || s.hs != nil
		}
	}
	return m
}

// putSegmentSize writes a UDP_SEGMENT control message into oob and returns
// its space.
func putSegmentSize(oob []byte, size uint16) int {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], size)
	return unix.CmsgSpace(2)
}

// parseGROSize returns the segment size the kernel reported for a coalesced
// datagram, or 0 when there is none. Like parsePktinfo it never reads past
// oob.
func parseGROSize(oob []byte) int {
	hdrLen := unix.CmsgLen(0)
	for len(oob) >= hdrLen {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdrLen || l > len(oob) {
			break
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO {
			switch data := oob[hdrLen:l]; {
			case len(data) >= 4:
				return int(binary.NativeEndian.Uint32(data))
			case len(data) >= 2:
				return int(binary.NativeEndian.Uint16(data))
			}
			return 0
		}
		next := unix.CmsgSpace(l - hdrLen)
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return 0
}

// groMsgs is how many coalesced messages one recvmmsg takes with GRO; each
// needs a buffer for the largest UDP payload. 16 messages hold anything
// from 16 lone datagrams to 16 × 64 KiB of coalesced ones.
const (
	groMsgs   = 16
	groBufLen = 1 << 16
)

// groState holds received messages not yet handed to the caller.
type groState struct {
	bufs  [][]byte
	sizes [groMsgs]int
	segs  [groMsgs]int // segment size; 0: the message is one datagram
	eps   [groMsgs]*Endpoint
	n     int // messages received
	next  int // message being handed out
	off   int // offset in it
}

// holdsCoalesced reports whether every buffer can take the largest
// coalesced message, so that recvmmsg can fill the caller's buffers.
func holdsCoalesced(packets [][]byte) bool {
	for _, p := range packets {
		if len(p) < groBufLen {
			return false
		}
	}
	return true
}

// receiveGRO is receive with UDP_GRO on for callers whose buffers are too
// small for a coalesced message: messages land in the receiver's buffers
// and are cut into datagrams copied into packets, one each; those that do
// not fit stay for the next call.
func (r *receiver) receiveGRO(packets [][]byte, sizes, segs []int, eps []core.Endpoint) (int, error) {
	g := &r.gro
	if g.next >= g.n {
		if err := r.recvGRO(); err != nil {
			return 0, err
		}
	}
	out := 0
	for out < len(packets) && g.next < g.n {
		i := g.next
		size, seg := g.sizes[i], g.segs[i]
		if seg <= 0 || seg > size-g.off {
			seg = size - g.off
		}
		if seg <= len(packets[out]) {
			copy(packets[out], g.bufs[i][g.off:g.off+seg])
			sizes[out] = seg
		} else {
			sizes[out] = 0 // no WireGuard message is this large; the engine drops it
		}
		segs[out] = 0
		eps[out] = g.eps[i]
		out++
		g.off += seg
		if g.off >= size {
			g.eps[i] = nil
			g.next++
			g.off = 0
		}
	}
	return out, nil
}

// recvGRO fills the GRO buffers with one recvmmsg.
func (r *receiver) recvGRO() error {
	g := &r.gro
	if g.bufs == nil {
		g.bufs = make([][]byte, groMsgs)
		for i := range g.bufs {
			g.bufs[i] = make([]byte, groBufLen)
		}
	}
	r.prepare(g.bufs[:min(groMsgs, r.want)])
	if err := r.recv(); err != nil {
		return err
	}
	r.adapt(r.n)
	for i := range r.n {
		m := &r.msgs[i]
		g.sizes[i] = min(int(m.Len), groBufLen)
		oob := r.oob[i*recvOOBSize:][:min(int(m.Hdr.Controllen), recvOOBSize)]
		g.segs[i] = parseGROSize(oob)
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			// Cannot happen with 64 KiB buffers; hand out one empty
			// datagram for the engine to drop.
			g.sizes[i], g.segs[i] = 0, 0
		}
		src, ifindex := parsePktinfo(oob)
		g.eps[i] = r.cache.get(epKey{dst: sockaddrToAddrPort(&r.names[i]), src: src, ifindex: ifindex})
	}
	g.n, g.next, g.off = r.n, 0, 0
	return nil
}
