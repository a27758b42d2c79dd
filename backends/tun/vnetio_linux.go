// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The read and write paths with a virtio header. readv puts the header in a
// buffer of the device's and the packet straight into the caller's buffer,
// so a plain packet is not copied and the caller's headroom is not touched;
// writev sends a header, the (possibly rewritten) IP and transport headers
// and the payloads of every packet merged, so coalescing copies nothing.
// Both go through the file's RawConn so that the runtime poller parks a
// blocked reader and Close or a deadline wakes it. The callbacks are built
// once per state: a closure per call would allocate.

// maxWriteIovecs bounds the iovecs of one writev: the headers and one
// payload per merged packet. Linux takes up to UIO_MAXIOV (1024).
const maxWriteIovecs = 1 + maxMergeSegs

// rawSuper is the read buffer size for a packet that does not fit the
// caller's buffer: a virtio header and the largest IP packet, plus one byte
// to tell a full-size packet from a truncated one.
const rawSuper = vnetHdrLen + maxIPPacket + 1

// vnetReader is the Read state; Device.readMu guards it.
type vnetReader struct {
	hdr    [vnetHdrLen]byte
	iov    [3]unix.Iovec
	iovCnt int
	n      int
	errno  syscall.Errno
	nowait bool // an empty queue ends the read instead of parking
	waited bool // the read found the queue empty and parked
	// probeHit: the last read that asked for more packets without
	// parking (the probe) found some; see probeAfter.
	probeHit bool
	readFn   func(fd uintptr) bool

	// pending is a super-packet whose segments did not all fit the
	// caller's buffers; later Reads return the rest. It lives in scratch.
	pending  []byte
	pendGSO  gsoPacket
	pendNext int
	scratch  []byte
}

func newReader() *vnetReader {
	r := &vnetReader{}
	r.readFn = r.readv
	return r
}

func (r *vnetReader) readv(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&r.iov[0])), uintptr(r.iovCnt))
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if !r.nowait {
				r.waited = true
				return false
			}
		}
		r.n, r.errno = int(n), errno
		return true
	}
}

// errWouldBlock ends a read that was not to wait.
var errWouldBlock = errors.New("tun: no packet queued")

// probeAfter says whether a Read that has its first packet should ask the
// kernel for more without parking, to fill the batch. Asking costs a readv,
// which after a wait mostly finds the queue empty: the reader parked because
// nothing was queued, and one packet woke it (a ping, a DNS query, a lone
// ACK). So after a wait it asks only if the last time it asked found more,
// a sign of bursts; a packet that was queued before Read came is a sign of
// load, and then it always asks. Under load the reader never parks, so full
// batches are unaffected; a burst that starts after a wait costs one batch
// of a single packet, and the next Read takes the rest without parking.
func (r *vnetReader) probeAfter(waited bool) bool {
	return !waited || r.probeHit
}

// read reads one packet with its virtio header into r.hdr, then buf, then
// tail (which may be empty); with r.nowait it returns errWouldBlock when none
// is queued.
func (r *vnetReader) read(rc syscall.RawConn, buf, tail []byte) (int, error) {
	r.iov[0].Base = &r.hdr[0]
	r.iov[0].SetLen(vnetHdrLen)
	setIov(&r.iov[1], buf)
	r.iovCnt = 2
	if len(tail) > 0 {
		setIov(&r.iov[2], tail)
		r.iovCnt = 3
	}
	if err := rc.Read(r.readFn); err != nil {
		return 0, err
	}
	if r.errno == unix.EAGAIN {
		return 0, errWouldBlock
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError("readv", r.errno)
	}
	if r.n < vnetHdrLen {
		return 0, errShortPacket
	}
	return r.n - vnetHdrLen, nil
}

// setIov points iov at b; an empty b gets a nil base.
func setIov(iov *unix.Iovec, b []byte) {
	if len(b) == 0 {
		iov.Base = nil
		iov.SetLen(0)
		return
	}
	iov.Base = &b[0]
	iov.SetLen(len(b))
}

// vnetWriter is the state of one Write, pooled so that the engine's crypto
// workers can write for different peers at once.
type vnetWriter struct {
	gro     groTable
	iov     []unix.Iovec
	hdr     [maxHdrScratch]byte
	cnt     int
	n       int
	errno   syscall.Errno
	writeFn func(fd uintptr) bool
}

func newWriter(o offloads) *vnetWriter {
	w := &vnetWriter{iov: make([]unix.Iovec, 0, maxWriteIovecs)}
	w.gro.tcp, w.gro.udp = o.groTCP, o.groUDP
	w.writeFn = w.writev
	return w
}

func (w *vnetWriter) writev(fd uintptr) bool {
	for {
		n, _, errno := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(w.cnt))
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		w.n, w.errno = int(n), errno
		return true
	}
}

// flush writes the iovecs gathered in w.iov as one packet.
func (w *vnetWriter) flush(rc syscall.RawConn) error {
	w.cnt = len(w.iov)
	err := rc.Write(w.writeFn)
	clear(w.iov) // drop the references to the caller's buffers
	w.iov = w.iov[:0]
	if err != nil {
		return err
	}
	if w.errno != 0 {
		return os.NewSyscallError("writev", w.errno)
	}
	return nil
}

// writeBatch writes bufs[i][offset:] with virtio headers, coalescing what
// the writer's offloads allow, and returns how many of the packets went out.
func (w *vnetWriter) writeBatch(rc syscall.RawConn, bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		if offset < 0 || offset > len(b) {
			return 0, ErrBadOffset
		}
	}
	if len(bufs) == 1 {
		return w.writeOne(rc, bufs[0][offset:])
	}
	if w.gro.tcp || w.gro.udp {
		w.gro.coalesce(bufs, offset)
	} else {
		w.gro.items = w.gro.items[:0]
		for i, b := range bufs {
			w.gro.items = append(w.gro.items, groItem{idx: i, length: len(b) - offset, segs: 1})
		}
	}
	written := 0
	for k := range w.gro.items {
		g := &w.gro.items[k]
		head := bufs[g.idx][offset:]
		w.addIov(g.finish(head, w.hdr[:]))
		if g.segs < 2 {
			w.addIov(head)
		} else {
			// The head's headers are in w.hdr; every member adds its
			// payload. maxMergeSegs keeps this within maxWriteIovecs.
			for m := g.idx; m >= 0; m = w.gro.next[m] {
				w.addIov(bufs[m][offset+g.hdrLen:])
			}
		}
		if err := w.flush(rc); err != nil {
			return written, err
		}
		written += g.segs
	}
	return written, nil
}

// zeroVnetHdr is the virtio header of a packet that is neither a GSO
// packet nor has a checksum left to complete. The kernel only reads it.
var zeroVnetHdr [vnetHdrLen]byte

// writeOne writes a lone packet. A batch of one has nothing to merge with,
// so it skips the flow table and the parsing and checksum check that
// coalescing needs (the cost of every packet after an idle spell, a ping
// or a lone ACK), and writes what coalescing would have: the packet behind
// an all-zero virtio header.
func (w *vnetWriter) writeOne(rc syscall.RawConn, pkt []byte) (int, error) {
	w.addIov(zeroVnetHdr[:])
	w.addIov(pkt)
	if err := w.flush(rc); err != nil {
		return 0, err
	}
	return 1, nil
}

func (w *vnetWriter) addIov(b []byte) {
	if len(b) == 0 {
		return
	}
	w.iov = append(w.iov, unix.Iovec{Base: &b[0]})
	w.iov[len(w.iov)-1].SetLen(len(b))
}
