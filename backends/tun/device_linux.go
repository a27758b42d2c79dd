// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// ErrDeviceGone is returned by Read and Write once the interface has been
// deleted from outside the process.
var ErrDeviceGone = errors.New("tun: device deleted")

// ErrBadOffset is returned when a buffer is shorter than the headroom offset.
var ErrBadOffset = errors.New("tun: offset beyond buffer")

// eventBuffer is how many events may wait unread. Link changes are rare; the
// buffer only keeps the watcher from stalling on a momentarily busy engine.
const eventBuffer = 16

// Device is a Linux TUN interface. It implements core.Device and adds
// SetMTU. Create one with Create; methods are safe for concurrent use.
type Device struct {
	file *os.File // the /dev/net/tun queue, non-blocking and pollable
	rc   syscall.RawConn
	// ifindex and nsfd (the interface's namespace, -1 if the kernel cannot
	// tell) are the watcher's; they change when the interface moves to
	// another namespace (follow_linux.go).
	ifindex int32
	nsfd    int
	moves   atomic.Uint32
	log     atomic.Pointer[slog.Logger]

	// off is fixed at Create. With off.vnet every packet carries a virtio
	// header; see offload_linux.go.
	off     offloads
	readMu  sync.Mutex
	rd      *vnetReader
	writers sync.Pool // *vnetWriter
	dropped atomic.Uint64
	// spare is a writer kept at hand for the next Write, taken and given
	// back with an atomic swap each. Writes mostly come one at a time
	// (the engine writes a peer's packets under that peer's lock), and
	// the swap touches one word of the device, where sync.Pool's Get and
	// Put pin the goroutine and look up per-P state: memory a packet
	// after an idle spell (a ping) finds out of cache. A Write that finds
	// it taken, as concurrent Writes for different peers do, uses the pool.
	// Every Write stores into it, so it has a cache line of its own, apart
	// from the fields the reader loads on every Read.
	_     cpu.CacheLinePad
	spare atomic.Pointer[vnetWriter]
	_     cpu.CacheLinePad

	// ctl is an AF_INET datagram socket for interface ioctls. It is opened
	// at Create so that it lives in the network namespace the interface was
	// created in, whatever thread later asks for the MTU.
	ctlMu     sync.RWMutex
	ctl       int
	ctlClosed bool

	nlMu        sync.Mutex // guards nl and closed against Close
	nl          *netlinkConn
	closed      bool
	events      chan core.DeviceEvent
	done        chan struct{} // closed by Close to stop the watcher
	watcherDone chan struct{} // closed when the watcher has returned
	gone        atomic.Bool   // the link was deleted from outside

	closeOnce sync.Once
	closeErr  error
}

var _ core.Device = (*Device)(nil)

// Create creates the TUN interface name, or attaches to it if a persistent
// TUN interface of that name exists, and sets its MTU when mtu > 0. A name
// containing %d lets the kernel pick the number (e.g. "wg%d" gives "wg0").
// The interface is created in the calling thread's network namespace.
func Create(name string, mtu int) (*Device, error) { return CreateWithOptions(name, mtu, Options{}) }

// Options switch the device's offloads off; the zero value asks for every
// one the kernel offers. The daemon fills them from its configuration
// (WGPLEX_TUN_OFFLOAD, WGPLEX_TUN_TSO, WGPLEX_TUN_USO, WGPLEX_TUN_GRO).
type Options struct {
	NoOffload bool // no virtio-net header at all: plain packets
	NoTSO     bool // no TCP segmentation offload (TSO4/TSO6)
	NoUSO     bool // no UDP segmentation offload, hence no UDP coalescing
	NoGRO     bool // no coalescing of segments on write
}

// CreateWithOptions is Create with offloads switched off as opts says.
func CreateWithOptions(name string, mtu int, opts Options) (d *Device, err error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: open /dev/net/tun: %w", err)
	}
	closeOnErr := func(c func() error) {
		if err != nil {
			c()
		}
	}
	defer closeOnErr(func() error { return unix.Close(fd) })

	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("tun: interface name %q: %w", name, err)
	}
	off := wantedOffloads(opts)
	if off.vnet && tunFeatures(fd)&unix.IFF_VNET_HDR == 0 {
		off = offloads{}
	}
	flags := uint16(tunFlags)
	if off.vnet {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("tun: create %q: %w", name, err)
	}
	name = ifr.Name()
	if off.vnet {
		if off, err = setOffloads(fd, off); err != nil {
			return nil, fmt.Errorf("tun: offloads of %s: %w", name, err)
		}
	}

	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("tun: control socket: %w", err)
	}
	defer closeOnErr(func() error { return unix.Close(ctl) })

	ifr, _ = unix.NewIfreq(name)
	if err = unix.IoctlIfreq(ctl, unix.SIOCGIFINDEX, ifr); err != nil {
		return nil, fmt.Errorf("tun: index of %s: %w", name, err)
	}
	ifindex := int32(ifr.Uint32())

	if mtu > 0 {
		if err = setMTU(ctl, name, mtu); err != nil {
			return nil, err
		}
	}

	// Subscribe before reading the initial state, so that no change falls
	// between the two.
	nl, err := openNetlink()
	if err != nil {
		return nil, err
	}
	defer closeOnErr(nl.Close)
	st, err := queryState(ctl, name)
	if err != nil {
		return nil, err
	}

	// The namespace the interface is in, to tell a move from a notice
	// about some other namespace; a kernel without TUNGETDEVNETNS (before
	// 5.2) gives -1, and a move is then survived but not followed.
	nsfd, nserr := unix.IoctlRetInt(fd, unix.TUNGETDEVNETNS)
	if nserr != nil {
		nsfd = -1
	}

	file := os.NewFile(uintptr(fd), "/dev/net/tun")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("tun: %w", err)
	}
	d = &Device{
		file:        file,
		rc:          rc,
		off:         off,
		rd:          newReader(),
		ifindex:     ifindex,
		nsfd:        nsfd,
		ctl:         ctl,
		nl:          nl,
		events:      make(chan core.DeviceEvent, eventBuffer),
		done:        make(chan struct{}),
		watcherDone: make(chan struct{}),
	}
	d.writers.New = func() any { return newWriter(off) }
	go d.watch(st)
	return d, nil
}

// tunFlags are the TUNSETIFF flags: layer 3 packets without the 4-byte
// packet information header. Create adds IFF_VNET_HDR when offloads are on.
const tunFlags = unix.IFF_TUN | unix.IFF_NO_PI

// readBatch is how many packets a Read returns at most with offloads: a
// 64 KiB TCP super-packet at an MTU of 1280 is 52 segments, and a smaller
// MTU just takes more Reads.
const readBatch = 128

// BatchSize is the most packets a Read returns: 128 with the virtio header
// (a super-packet is split into many), else 1.
func (d *Device) BatchSize() int {
	if d.off.vnet {
		return readBatch
	}
	return 1
}

// Read reads packets into bufs[i][offset:] and stores their lengths in
// sizes[i]; it returns how many. Without offloads that is one packet. With
// them, a TCP or UDP super-packet from the kernel is split into as many
// MTU-sized packets as bufs holds, the rest coming with the next Reads, and
// checksums the kernel left to the device are completed. Packets already
// queued behind the first join its batch (see vnetReader.probeAfter for
// when Read asks). Read never writes into the headroom. It blocks until a
// packet arrives, the device is closed (os.ErrClosed) or the interface is
// deleted (ErrDeviceGone).
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if len(bufs) == 0 || len(sizes) == 0 {
		return 0, nil
	}
	if offset < 0 || offset > len(bufs[0]) {
		return 0, ErrBadOffset
	}
	if !d.off.vnet {
		n, err := d.file.Read(bufs[0][offset:])
		if err != nil {
			return 0, d.mapErr(err)
		}
		sizes[0] = n
		return 1, nil
	}
	d.readMu.Lock()
	defer d.readMu.Unlock()
	r := d.rd
	for {
		if r.pending != nil {
			n, err := splitGSO(r.pending, &r.pendGSO, r.pendNext, bufs, sizes, offset)
			if err != nil {
				r.pending = nil
				d.dropped.Add(1)
				continue
			}
			r.pendNext += n
			if r.pendNext >= r.pendGSO.segs {
				r.pending = nil
			}
			return n, nil
		}
		r.nowait, r.waited = false, false
		n, err := d.readOne(bufs, sizes, offset)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			continue
		}
		if !r.probeAfter(r.waited) {
			return n, nil
		}
		// More packets may be queued already (a burst of ACKs, datagrams
		// of a UDP flow): take them in this batch without parking, so the
		// engine handles them together.
		r.nowait = true
		probed, found := false, false
		for n < len(bufs) && n < len(sizes) && r.pending == nil {
			probed = true
			k, err := d.readOne(bufs[n:], sizes[n:], offset)
			if err != nil {
				break // errWouldBlock, or an error the next Read reports
			}
			found = true
			n += k
		}
		if probed {
			r.probeHit = found
		}
		return n, nil
	}
}

// readOne reads one packet from the kernel and returns the packets it makes
// (0 for a packet that had to be dropped).
func (d *Device) readOne(bufs [][]byte, sizes []int, offset int) (int, error) {
	r := d.rd
	if offset > len(bufs[0]) {
		return 0, ErrBadOffset
	}
	// The packet is read into the caller's buffer, where all but
	// super-packets fit, so that a small packet is neither copied nor
	// makes the read touch the scratch buffer. What does not fit runs on
	// into scratch, past as many bytes as the caller's buffer took; those
	// are then copied in front, making the packet whole in scratch. A
	// buffer that holds the largest packet needs no scratch at all.
	dst := bufs[0][offset:]
	var tail []byte
	if len(dst) <= maxIPPacket {
		if r.scratch == nil {
			r.scratch = make([]byte, rawSuper)
		}
		tail = r.scratch[len(dst):]
	}
	n, err := r.read(d.rc, dst, tail)
	if err != nil {
		if err == errWouldBlock {
			return 0, err
		}
		if errors.Is(err, errShortPacket) {
			d.dropped.Add(1)
			return 0, nil
		}
		return 0, d.mapErr(err)
	}
	if n >= len(dst)+len(tail) {
		d.dropped.Add(1) // possibly truncated
		return 0, nil
	}
	inCaller := n <= len(dst)
	var pkt []byte
	if inCaller {
		pkt = dst[:n]
	} else {
		copy(r.scratch, dst)
		pkt = r.scratch[:n]
	}
	var h vnetHdr
	h.decode(r.hdr[:])
	if h.gsoType == gsoNone {
		if !inCaller {
			d.dropped.Add(1) // larger than the caller's buffer
			return 0, nil
		}
		if h.flags&flagNeedsCsum != 0 {
			if err := finishChecksum(pkt, &h); err != nil {
				d.dropped.Add(1)
				return 0, nil
			}
		}
		sizes[0] = n
		return 1, nil
	}
	g, err := parseGSO(pkt, &h)
	if err != nil {
		d.dropped.Add(1)
		return 0, nil
	}
	if g.segs > min(len(bufs), len(sizes)) && inCaller {
		// Not all segments fit this Read; the packet must outlive the
		// caller's buffer, whose first segment is about to overwrite it.
		if r.scratch == nil {
			r.scratch = make([]byte, rawSuper)
		}
		pkt = r.scratch[:copy(r.scratch, pkt)]
	}
	k, err := splitGSO(pkt, &g, 0, bufs, sizes, offset)
	if err != nil {
		d.dropped.Add(1)
		return 0, nil
	}
	if k < g.segs {
		r.pending, r.pendGSO, r.pendNext = pkt, g, k
	}
	return k, nil
}

// mapErr turns the error of a failed read or write into what the port
// promises: ErrDeviceGone once the interface was deleted (the kernel fails
// I/O with EBADFD then, possibly before the watcher saw the notification).
func (d *Device) mapErr(err error) error {
	if d.gone.Load() || errors.Is(err, unix.EBADFD) {
		return ErrDeviceGone
	}
	return err
}

// Write writes each bufs[i][offset:] as one packet; the buffers are not
// modified. With offloads, consecutive TCP segments (and, with USO, UDP
// datagrams) of one flow are merged into one GSO packet first, which the
// kernel takes in one go. It returns how many of the packets were written:
// on error, those of the writes that succeeded.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	if !d.off.vnet {
		for i, b := range bufs {
			if offset < 0 || offset > len(b) {
				return i, ErrBadOffset
			}
			if _, err := d.file.Write(b[offset:]); err != nil {
				return i, d.mapErr(err)
			}
		}
		return len(bufs), nil
	}
	w := d.spare.Swap(nil)
	if w == nil {
		w = d.writers.Get().(*vnetWriter)
	}
	n, err := w.writeBatch(d.rc, bufs, offset)
	if !d.spare.CompareAndSwap(nil, w) {
		d.writers.Put(w)
	}
	if err != nil {
		return n, d.mapErr(err)
	}
	return n, nil
}

// Dropped counts packets read from the kernel that could not be used: a
// super-packet with an inconsistent virtio header, a checksum offset outside
// the packet, a segment larger than the caller's buffer.
func (d *Device) Dropped() uint64 { return d.dropped.Load() }

// Name returns the interface's current name, asked of the kernel so that a
// rename from outside is seen.
func (d *Device) Name() (string, error) {
	rc, err := d.file.SyscallConn()
	if err != nil {
		return "", err
	}
	ifr, _ := unix.NewIfreq("")
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlIfreq(int(fd), unix.TUNGETIFF, ifr)
	}); err != nil {
		return "", err
	}
	if ierr != nil {
		if d.gone.Load() {
			return "", ErrDeviceGone
		}
		return "", fmt.Errorf("tun: get name: %w", ierr)
	}
	return ifr.Name(), nil
}

// MTU returns the interface's MTU.
func (d *Device) MTU() (int, error) {
	name, err := d.Name()
	if err != nil {
		return 0, err
	}
	d.ctlMu.RLock()
	defer d.ctlMu.RUnlock()
	if d.ctlClosed {
		return 0, os.ErrClosed
	}
	return getMTU(d.ctl, name)
}

// SetMTU sets the interface's MTU. Watchers see an EventMTUUpdate.
func (d *Device) SetMTU(mtu int) error {
	name, err := d.Name()
	if err != nil {
		return err
	}
	d.ctlMu.RLock()
	defer d.ctlMu.RUnlock()
	if d.ctlClosed {
		return os.ErrClosed
	}
	return setMTU(d.ctl, name, mtu)
}

// Events delivers EventUp, EventDown and EventMTUUpdate as the interface
// changes, starting with EventUp if it was up when created. The channel is
// closed when the interface is deleted or the device closed; moving the
// interface to another network namespace is neither (the move shows as
// EventDown, as the kernel takes a moved interface down, and events from
// the new namespace follow).
func (d *Device) Events() <-chan core.DeviceEvent { return d.events }

// Close stops the event watcher, closes the Events channel and releases the
// interface; a blocked Read returns os.ErrClosed. A non-persistent
// interface disappears with it. Calls after the first return nil.
func (d *Device) Close() error {
	first := false
	d.closeOnce.Do(func() {
		first = true
		close(d.done)
		d.nlMu.Lock()
		d.closed = true
		errNL := d.nl.Close()
		d.nlMu.Unlock()
		<-d.watcherDone
		if d.nsfd >= 0 {
			unix.Close(d.nsfd)
		}
		d.ctlMu.Lock()
		errCtl := unix.Close(d.ctl)
		d.ctlClosed = true
		d.ctlMu.Unlock()
		d.closeErr = errors.Join(d.file.Close(), errNL, errCtl)
	})
	if !first {
		return nil
	}
	return d.closeErr
}

// SetLogger sets where the device reports what it cannot handle quietly
// (an interface moved to a namespace it cannot follow). Nil, the default,
// discards.
func (d *Device) SetLogger(l *slog.Logger) { d.log.Store(l) }

func (d *Device) logf(format string, args ...any) {
	if l := d.log.Load(); l != nil {
		l.Warn(fmt.Sprintf(format, args...))
	}
}

// markGone records that the interface was deleted and wakes a blocked Read:
// the kernel already fails reads on a detached queue, but a deadline in the
// past makes sure a parked reader notices.
func (d *Device) markGone() {
	d.gone.Store(true)
	_ = d.file.SetReadDeadline(time.Unix(1, 0))
}

// linkState is what the watcher compares to decide which events to emit.
type linkState struct {
	up  bool
	mtu int
}

// queryState reads the interface's flags and MTU with ioctls.
func queryState(ctl int, name string) (linkState, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return linkState{}, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return linkState{}, fmt.Errorf("tun: flags of %s: %w", name, err)
	}
	up := ifr.Uint16()&unix.IFF_UP != 0
	mtu, err := getMTU(ctl, name)
	if err != nil {
		return linkState{}, err
	}
	return linkState{up: up, mtu: mtu}, nil
}

func getMTU(ctl int, name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFMTU, ifr); err != nil {
		return 0, fmt.Errorf("tun: get MTU of %s: %w", name, err)
	}
	return int(int32(ifr.Uint32())), nil
}

func setMTU(ctl int, name string, mtu int) error {
	if mtu <= 0 || mtu > 1<<16-1 {
		return fmt.Errorf("tun: MTU %d out of range", mtu)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("tun: set MTU of %s to %d: %w", name, mtu, err)
	}
	return nil
}
