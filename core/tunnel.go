// SPDX-License-Identifier: MIT

package core

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/wgplex/wgplex/core/allowedips"
	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/ratelimit"
)

// Options are the ports and services a Tunnel runs on.
type Options struct {
	// Device is the packet device (required).
	Device Device
	// Bind is the UDP transport (required).
	Bind Bind
	// Clock drives every timer; nil means the system clock.
	Clock Clock
	// Logger receives the engine's log; nil discards it. Messages a packet
	// can trigger are rate-limited.
	Logger *slog.Logger
	// Workers is the number of crypto goroutines; 0 means GOMAXPROCS.
	Workers int
	// Crypto says which goroutines seal and open data packets; the zero
	// value picks by the number of CPUs.
	Crypto CryptoMode
	// NoICMPUnreachable turns off the ICMP / ICMPv6 destination
	// unreachable that is otherwise written back into the Device for a
	// packet no peer accepts (icmp.go).
	NoICMPUnreachable bool
}

// CryptoMode says where data packets are sealed and opened.
type CryptoMode int

const (
	// CryptoAuto is CryptoInline when the process may use at most two
	// CPUs (GOMAXPROCS) and CryptoParallel otherwise.
	CryptoAuto CryptoMode = iota
	// CryptoInline runs each batch to completion on the goroutine that read
	// it: the device reader seals and sends what it read, a socket receiver
	// opens and writes what it received. No hand-off, so no wake-up of
	// another thread and no packet data moving between CPU caches. On a
	// small machine, where the tunnel's threads share the cores with the
	// kernel's network stack and the applications, that is the faster way
	// (see README, Performance): a hand-off costs and buys no parallelism.
	// Keepalives and packets released by a finished handshake still go
	// through the workers.
	CryptoInline
	// CryptoParallel hands every batch to a pool of Workers goroutines,
	// with per-peer order kept, so that one busy direction can use every
	// CPU. A batch of a single packet is still run by the goroutine that
	// read it: a hand-off would cost more than the packet's crypto.
	CryptoParallel
)

// Resolve returns the mode a tunnel runs in with procs Ps (GOMAXPROCS):
// m itself, unless m is CryptoAuto.
func (m CryptoMode) Resolve(procs int) CryptoMode {
	if m != CryptoAuto {
		return m
	}
	if procs <= 2 {
		return CryptoInline
	}
	return CryptoParallel
}

// String names the mode as WGPLEX_CRYPTO and the log spell it.
func (m CryptoMode) String() string {
	switch m {
	case CryptoInline:
		return "inline"
	case CryptoParallel:
		return "parallel"
	}
	return "auto"
}

// ParseCryptoMode reads "auto", "inline" or "parallel".
func ParseCryptoMode(s string) (CryptoMode, error) {
	switch s {
	case "", "auto":
		return CryptoAuto, nil
	case "inline":
		return CryptoInline, nil
	case "parallel":
		return CryptoParallel, nil
	}
	return CryptoAuto, fmt.Errorf("%w: crypto mode %q (want auto, inline or parallel)", ErrInvalidConfig, s)
}

// Tunnel is one WireGuard interface: a Device, a Bind, a static identity
// and its peers. Configure it with Apply, read it with Snapshot.
type Tunnel struct {
	dev   Device
	bind  Bind
	clock Clock
	log   *slog.Logger
	rl    *rateLimitedLogger

	cfgMu sync.Mutex // serialises Apply, Up, Down, Close

	mu         sync.RWMutex // guards the fields below
	keyStore   KeyStore
	keyManaged bool // the key store is not the in-memory one
	listenPort uint16
	fwmark     uint32
	peers      map[PublicKey]*Peer
	peerSeq    uint64

	bindMu    sync.RWMutex // guards bindOpen and the bind's lifetime
	bindOpen  bool
	boundPort uint16
	outerPort atomic.Uint32 // boundPort for the device reader (loop.go)
	recvWG    sync.WaitGroup

	routeMu sync.RWMutex
	routes  allowedips.Table[*Peer]

	index   *indexTable
	checker *cookie.Checker
	limiter *ratelimit.Limiter
	// replyLimiter bounds the cookie replies one source gets under load
	// (handshake.go), with the same per-source rate as limiter; a flood of
	// spoofed sources that fills its table gets replies as if unlimited,
	// so that it cannot keep a real initiator from its cookie.
	replyLimiter *ratelimit.Limiter

	isUp           atomic.Bool
	mtu            atomic.Int32
	underLoadUntil atomic.Int64
	loadReplies    atomic.Uint64 // messages needing a cookie in the current window (holdLoad)
	loadWindow     atomic.Int64  // when that window started, UnixNano
	forceUnderLoad atomic.Bool

	work       chan *job
	workMu     sync.RWMutex // senders hold it shared; Close exclusively
	workClosed bool
	inline     bool // CryptoInline: readers run their own jobs
	noICMP     bool // Options.NoICMPUnreachable
	hsQueue    chan hsJob
	txPool     *bufferPool
	rxPool     *bufferPool
	sendBufs   sync.Pool
	workers    sync.WaitGroup

	stats stats
	// rxBufferCopies counts received buffers whose datagrams had to be
	// split between jobs by copying (see sortDatagrams); for tests.
	rxBufferCopies atomic.Uint64
	busy           atomic.Int64 // jobs and handshake messages not yet finished
	closed         chan struct{}
	closeOnce      sync.Once
	gen            generation // configuration changes (generation.go)
}

// NewTunnel starts a Tunnel on the given ports. It starts down: it comes up
// when the Device reports EventUp, or when Up is called.
func NewTunnel(o Options) (*Tunnel, error) {
	if o.Device == nil || o.Bind == nil {
		return nil, fmt.Errorf("%w: a Device and a Bind are required", ErrInvalidConfig)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	o.Crypto = o.Crypto.Resolve(runtime.GOMAXPROCS(0))
	t := &Tunnel{
		dev:          o.Device,
		bind:         o.Bind,
		clock:        o.Clock,
		log:          o.Logger,
		peers:        make(map[PublicKey]*Peer),
		index:        newIndexTable(),
		checker:      cookie.NewChecker(),
		limiter:      ratelimit.New(),
		replyLimiter: ratelimit.NewOpenWhenFull(),
		work:         make(chan *job, 1024),
		hsQueue:      make(chan hsJob, HandshakeQueueSize),
		txPool:       newBufferPool(MaxBuffers, txBufferSize(1420)),
		rxPool:       newBufferPool(MaxBuffers, bufferSize),
		closed:       make(chan struct{}),
		inline:       o.Crypto == CryptoInline,
		noICMP:       o.NoICMPUnreachable,
	}
	t.rl = newRateLimitedLogger(o.Logger, o.Clock)
	t.stats.handshakeDuration = newHistogram(handshakeBounds)
	t.stats.deviceReadBatch = newHistogram(batchBounds)
	t.stats.socketReadBatch = newHistogram(batchBounds)
	t.sendBufs.New = func() any { b := make([][]byte, 0, DefaultBatchSize); return &b }
	mtu, err := o.Device.MTU()
	if err != nil || mtu <= 0 {
		mtu = 1420
	}
	t.setMTU(mtu)
	for i := 0; i < o.Workers; i++ {
		t.workers.Add(2)
		go t.cryptoWorker()
		go t.handshakeWorker()
	}
	t.workers.Add(2)
	go t.readDevice()
	go t.deviceEvents()
	return t, nil
}

// setMTU records the device MTU and sizes the send buffers for it.
func (t *Tunnel) setMTU(mtu int) {
	t.mtu.Store(int32(mtu))
	t.txPool.setSize(txBufferSize(mtu))
}

// txBufferSize is the send buffer size for a device MTU: headroom, the
// largest packet the device hands over without segmentation offload, and
// sealRoom, rounded up to a cache line. Buffers of about an MTU (rather
// than 64 KiB) keep the segments of a batch close together in the CPU
// caches: a TSO super-packet is cut into dozens of them, and 64 KiB
// buffers put every segment at the same offset modulo 4 KiB, so that they
// evicted each other from the L1 cache.
func txBufferSize(mtu int) int {
	mtu = min(max(mtu, 1280), MaxPacketSize)
	return (MessageHeadroom + mtu + sealRoom + 63) &^ 63
}

// CryptoMode returns the mode the tunnel runs in: CryptoInline or
// CryptoParallel, never CryptoAuto.
func (t *Tunnel) CryptoMode() CryptoMode {
	if t.inline {
		return CryptoInline
	}
	return CryptoParallel
}

func (t *Tunnel) isClosed() bool {
	select {
	case <-t.closed:
		return true
	default:
		return false
	}
}

// Idle reports whether no packet batch or handshake message is in flight
// inside the engine. Tests use it to let asynchronous work settle before
// they read counters or move a fake clock.
func (t *Tunnel) Idle() bool { return t.busy.Load() == 0 }

// IsUp reports whether the interface is up: its port is open and packets
// flow.
func (t *Tunnel) IsUp() bool { return t.isUp.Load() }

// Closed is closed once the tunnel has shut down, including when its
// device went away.
func (t *Tunnel) Closed() <-chan struct{} { return t.closed }

// deviceEvents follows the device's up/down/MTU events; when the device
// disappears the tunnel closes itself.
func (t *Tunnel) deviceEvents() {
	defer t.workers.Done()
	setStage("device-events")
	for ev := range t.dev.Events() {
		switch ev {
		case EventUp:
			if err := t.Up(); err != nil {
				t.log.Error("Failed to bring up interface", "err", err)
			}
		case EventDown:
			if err := t.Down(); err != nil {
				t.log.Error("Failed to bring down interface", "err", err)
			}
		case EventMTUUpdate:
			if mtu, err := t.dev.MTU(); err == nil && mtu > 0 {
				t.setMTU(mtu)
				t.log.Debug("MTU updated", "mtu", mtu)
			}
		}
	}
	if !t.isClosed() {
		t.log.Info("Device went away, closing tunnel")
		go t.Close()
	}
}

// Up opens the UDP port and starts the peers' timers.
func (t *Tunnel) Up() error {
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	if t.isClosed() {
		return ErrClosed
	}
	if t.isUp.Load() {
		return nil
	}
	t.mu.RLock()
	port, mark := t.listenPort, t.fwmark
	t.mu.RUnlock()
	if err := t.openBind(port, mark); err != nil {
		return err
	}
	// Timers first: once isUp is set a packet may start a handshake, and
	// its retransmit timer must be live or a lost initiation is never
	// retried.
	peers := t.peerList()
	for _, p := range peers {
		p.startTimers()
	}
	t.isUp.Store(true)
	t.gen.bump()
	t.log.Info("Interface up", "port", t.boundPort)
	for _, p := range peers {
		if p.keepaliveInterval() > 0 {
			p.sendKeepalive()
		}
	}
	return nil
}

// Down closes the UDP port, stops every timer and forgets session keys.
func (t *Tunnel) Down() error {
	t.cfgMu.Lock()
	defer t.cfgMu.Unlock()
	return t.down()
}

func (t *Tunnel) down() error {
	if !t.isUp.Swap(false) {
		return nil
	}
	t.closeBind()
	for _, p := range t.peerList() {
		p.stopTimers()
		p.zeroKeys()
		p.dropStaged()
	}
	t.gen.bump()
	t.log.Info("Interface down")
	return nil
}

// openBind opens the bind on port and starts a receiver per socket.
// Caller holds cfgMu.
func (t *Tunnel) openBind(port uint16, mark uint32) error {
	t.bindMu.Lock()
	defer t.bindMu.Unlock()
	fns, actual, err := t.bind.Open(port)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPortInUse, err)
	}
	if mark != 0 {
		if err := t.bind.SetMark(mark); err != nil {
			t.bind.Close()
			return fmt.Errorf("%w: set fwmark: %v", ErrInvalidConfig, err)
		}
	}
	t.bindOpen, t.boundPort = true, actual
	t.outerPort.Store(uint32(actual))
	for i, fn := range fns {
		t.recvWG.Add(1)
		go t.receive(fn, "socket-receive-"+strconv.Itoa(i))
	}
	return nil
}

// closeBind closes the sockets and waits for the receivers to stop.
// Caller holds cfgMu.
func (t *Tunnel) closeBind() {
	t.bindMu.Lock()
	if t.bindOpen {
		t.bind.Close()
		t.bindOpen, t.boundPort = false, 0
		t.outerPort.Store(0)
	}
	t.bindMu.Unlock()
	t.recvWG.Wait()
}

// Close shuts the tunnel down for good and closes the device.
func (t *Tunnel) Close() error {
	var err error
	t.closeOnce.Do(func() {
		t.cfgMu.Lock()
		close(t.closed)
		t.down()
		t.mu.Lock()
		for _, p := range t.peers {
			p.removed.Store(true)
			p.stopTimers()
			p.hsMu.Lock()
			p.ssValid = false
			clear(p.ss[:])
			p.hsMu.Unlock()
		}
		if !t.keyManaged {
			wipeKeyStore(t.keyStore)
		}
		t.mu.Unlock()
		t.cfgMu.Unlock()
		err = t.dev.Close()
		// Workers exit when their queues close; the device reader and the
		// event loop exit when the device is closed.
		close(t.hsQueue)
		t.workMu.Lock()
		t.workClosed = true
		close(t.work)
		t.workMu.Unlock()
		t.workers.Wait()
	})
	return err
}

// Stats returns the interface-wide counters.
func (t *Tunnel) Stats() Stats {
	s := Stats{
		Drops:                 make(map[DropReason]uint64, numDropReasons),
		RxPackets:             t.stats.rxPackets.Load(),
		TxPackets:             t.stats.txPackets.Load(),
		RxBytes:               t.stats.rxBytes.Load(),
		TxBytes:               t.stats.txBytes.Load(),
		InitiationsSent:       t.stats.initiationsSent.Load(),
		ResponsesSent:         t.stats.responsesSent.Load(),
		HandshakesCompleted:   t.stats.handshakesCompleted.Load(),
		HandshakesAsInitiator: t.stats.handshakesAsInitiator.Load(),
		HandshakesFailed:      t.stats.handshakesFailed.Load(),
		CookieRepliesSent:     t.stats.cookieRepliesSent.Load(),
		KeypairRotations:      t.stats.keypairRotations.Load(),
		EndpointChanges:       t.stats.endpointChanges.Load(),
		KeepalivesSent:        t.stats.keepalivesSent.Load(),
		KeyStoreCalls:         t.stats.keyStoreCalls.Load(),
		UnderLoad:             t.underLoad(),
		HandshakeDuration:     t.stats.handshakeDuration.read(1e-9),
		DeviceReadBatch:       t.stats.deviceReadBatch.read(1),
		SocketReadBatch:       t.stats.socketReadBatch.read(1),
	}
	// Each total from the same two loads as its invalid part, so that
	// total minus invalid is the valid count exactly.
	iv, ii := t.stats.initiationsValid.Load(), t.stats.initiationsInvalid.Load()
	rv, ri := t.stats.responsesValid.Load(), t.stats.responsesInvalid.Load()
	cv, ci := t.stats.cookieRepliesValid.Load(), t.stats.cookieRepliesInvalid.Load()
	s.InitiationsReceived, s.InitiationsInvalid = iv+ii, ii
	s.ResponsesReceived, s.ResponsesInvalid = rv+ri, ri
	s.CookieRepliesReceived, s.CookieRepliesInvalid = cv+ci, ci

	for i := range t.stats.drops {
		s.Drops[DropReason(i)] = t.stats.drops[i].Load()
	}
	t.mu.RLock()
	s.Peers = len(t.peers)
	t.mu.RUnlock()
	return s
}

// SetUnderLoad forces the under-load state (cookies required for every
// handshake) on or off; off returns to the automatic queue-depth rule.
// Tests and operators under attack use it.
func (t *Tunnel) SetUnderLoad(on bool) { t.forceUnderLoad.Store(on) }

func (t *Tunnel) currentKeyStore() KeyStore {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.keyStore
}

func (t *Tunnel) lookupPeer(pub PublicKey) *Peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.peers[pub]
}

func (t *Tunnel) peerList() []*Peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*Peer, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, p)
	}
	return out
}

// retireKeypair forgets a keypair's index so that no packet can use it,
// and drops the reference the peer's slot held: the keys are wiped as soon
// as the crypto jobs still using them are done.
func (t *Tunnel) retireKeypair(kp *keypair) {
	if kp != nil {
		t.index.delete(kp.localIndex)
		kp.release()
	}
}

var errUnknownPeer = errors.New("initiation from unknown peer")
