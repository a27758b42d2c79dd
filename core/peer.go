// SPDX-License-Identifier: MIT

package core

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/noise"
)

// Peer is one remote WireGuard peer of a Tunnel. Each concern keeps its
// own lock, so that the data path (keypairs, queues) never waits for the
// handshake or for configuration.
type Peer struct {
	t   *Tunnel
	pub PublicKey
	seq uint64 // insertion order, for stable snapshots

	// Configuration, guarded by mu.
	mu        sync.RWMutex
	psk       PresharedKey
	endpoint  Endpoint
	keepalive uint16 // persistent keepalive interval, seconds

	// Handshake state, guarded by hsMu.
	hsMu               sync.Mutex
	ssValid            bool
	ss                 [32]byte // cached static-static DH with this peer
	initiation         *noise.InitiatorState
	lastTimestamp      noise.Timestamp
	lastInitConsumed   time.Time
	lastInitiationSent time.Time
	handshakeStarted   time.Time
	attempts           int
	cookies            *cookie.Generator

	// Keypairs (§5.4.5 previous / current / next), guarded by kpMu.
	kpMu           sync.RWMutex
	prev, cur, nxt *keypair

	// Packets waiting for a usable keypair, guarded by stageMu. Holding
	// stageMu while assigning counters and queueing keeps counters in queue
	// order.
	stageMu sync.Mutex
	staged  []stagedPacket

	// Ordered data-path queues; rxMu also guards the replay filters.
	txQ  orderedQueue
	rxQ  orderedQueue
	rxMu sync.Mutex

	timers peerTimers

	rxBytes       atomic.Uint64
	txBytes       atomic.Uint64
	lastHandshake atomic.Int64 // unix nanoseconds, 0 = never
	removed       atomic.Bool
}

type stagedPacket struct {
	buf *[]byte
	n   int // inner packet length at buf[MessageHeadroom:]
}

// PublicKey returns the peer's public key.
func (p *Peer) PublicKey() PublicKey { return p.pub }

func newPeer(t *Tunnel, pub PublicKey, seq uint64) *Peer {
	p := &Peer{t: t, pub: pub, seq: seq, cookies: cookie.NewGenerator(pub)}
	p.txQ.flushFn = p.flushOutbound
	p.rxQ.flushFn = p.flushInbound
	p.timers.init(p)
	return p
}

func (p *Peer) getEndpoint() Endpoint {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.endpoint
}

// setEndpoint records where the latest authenticated packet came from
// (roaming, §6.6). It writes only when something changed, so the common
// case costs a read lock.
func (p *Peer) setEndpoint(ep Endpoint) {
	if ep == nil {
		return
	}
	p.mu.RLock()
	cur := p.endpoint
	p.mu.RUnlock()
	if cur != nil && cur.DstAddrPort() == ep.DstAddrPort() && cur.SrcAddr() == ep.SrcAddr() {
		return
	}
	p.mu.Lock()
	changed := p.endpoint == nil || p.endpoint.DstAddrPort() != ep.DstAddrPort()
	p.endpoint = ep
	p.mu.Unlock()
	if changed && cur != nil {
		p.t.stats.endpointChanges.Add(1)
		p.t.rl.debugf("%s - Endpoint changed to %s", p.pub.Short(), ep)
	}
}

func (p *Peer) clearEndpointSrc() {
	if ep := p.getEndpoint(); ep != nil {
		ep.ClearSrc()
	}
}

func (p *Peer) presharedKey() PresharedKey {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.psk
}

func (p *Peer) keepaliveInterval() time.Duration {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return time.Duration(p.keepalive) * time.Second
}

// staticStatic returns DH(our static, peer static), asking the KeyStore only
// the first time: the result never changes while both keys stay the same,
// and a KeyStore may be a remote vault. Caller holds hsMu.
func (p *Peer) staticStatic() ([32]byte, error) {
	if p.ssValid {
		return p.ss, nil
	}
	ks := p.t.currentKeyStore()
	if ks == nil {
		return [32]byte{}, ErrKeyStore
	}
	p.t.stats.keyStoreCalls.Add(1)
	ss, err := ks.DH(p.pub)
	if err != nil {
		return [32]byte{}, err
	}
	p.ss, p.ssValid = ss, true
	return ss, nil
}

// sendKeypair returns the current keypair if it may still be used to send
// (§6.1: younger than Reject-After-Time, counter below Reject-After-Messages),
// with a reference taken that the caller releases.
func (p *Peer) sendKeypair(now time.Time) *keypair {
	p.kpMu.RLock()
	kp := p.cur
	// Acquired under kpMu: a keypair still in its slot has the slot's
	// reference, so this cannot fail.
	if kp == nil || now.Sub(kp.created) >= RejectAfterTime || kp.sendCounter.Load() >= RejectAfterMessages || !kp.acquire() {
		kp = nil
	}
	p.kpMu.RUnlock()
	return kp
}

// installKeypair puts a freshly derived keypair in place (§5.4.5). The
// initiator may use its new keypair at once; the responder keeps it as
// "next" until the initiator proves it has it by sending data with it.
func (p *Peer) installKeypair(kp *keypair) {
	p.kpMu.Lock()
	var drop [2]*keypair
	if kp.initiator {
		if p.nxt != nil {
			drop[0], drop[1] = p.prev, p.cur
			p.prev, p.nxt = p.nxt, nil
		} else {
			drop[0] = p.prev
			p.prev = p.cur
		}
		p.cur = kp
	} else {
		drop[0], drop[1] = p.nxt, p.prev
		p.nxt, p.prev = kp, nil
	}
	p.kpMu.Unlock()
	for _, d := range drop {
		p.t.retireKeypair(d)
	}
	p.t.stats.keypairRotations.Add(1)
}

// confirmKeypair is called when data arrived on kp. If kp is the "next"
// keypair, the handshake we answered is now confirmed: it becomes current.
func (p *Peer) confirmKeypair(kp *keypair) bool {
	p.kpMu.RLock()
	isNext := p.nxt == kp
	p.kpMu.RUnlock()
	if !isNext {
		return false
	}
	p.kpMu.Lock()
	if p.nxt != kp {
		p.kpMu.Unlock()
		return false
	}
	old := p.prev
	p.prev, p.cur, p.nxt = p.cur, kp, nil
	p.kpMu.Unlock()
	p.t.retireKeypair(old)
	return true
}

// zeroKeys forgets every keypair and any handshake in progress.
func (p *Peer) zeroKeys() {
	p.kpMu.Lock()
	ks := [3]*keypair{p.prev, p.cur, p.nxt}
	p.prev, p.cur, p.nxt = nil, nil, nil
	p.kpMu.Unlock()
	for _, k := range ks {
		p.t.retireKeypair(k)
	}
	p.hsMu.Lock()
	if p.initiation != nil {
		p.t.index.delete(p.initiation.LocalIndex())
		p.initiation.Zero()
		p.initiation = nil
	}
	p.hsMu.Unlock()
}

// abandonInitiation forgets the initiation of a handshake that gave up, so
// that the peer reads as idle (not handshaking) and a late response to it
// is refused like any unknown index; the next demand starts a new round.
func (p *Peer) abandonInitiation() {
	p.hsMu.Lock()
	if p.initiation != nil {
		p.t.index.delete(p.initiation.LocalIndex())
		p.initiation.Zero()
		p.initiation = nil
	}
	p.handshakeStarted = time.Time{}
	p.hsMu.Unlock()
}

// dropStaged releases every staged packet (a handshake that gave up, or the
// peer going away).
func (p *Peer) dropStaged() {
	p.stageMu.Lock()
	staged := p.staged
	p.staged = nil
	p.stageMu.Unlock()
	for _, s := range staged {
		p.t.stats.drop(DropNoKey)
		p.t.txPool.put(s.buf)
	}
}

// stagedCount is how many packets wait for a handshake.
func (p *Peer) stagedCount() int {
	p.stageMu.Lock()
	defer p.stageMu.Unlock()
	return len(p.staged)
}

// state summarises the session for read-outs.
func (p *Peer) state(now time.Time) PeerState {
	if kp := p.sendKeypair(now); kp != nil {
		kp.release()
		return PeerEstablished
	}
	p.hsMu.Lock()
	defer p.hsMu.Unlock()
	if p.initiation != nil {
		return PeerHandshaking
	}
	return PeerIdle
}

// countRx and countTx account outer bytes (data, keepalives and handshake
// messages alike) to the peer and to the interface, so that the interface
// totals are the sum over its peers, as wg(8) users expect.
func (p *Peer) countRx(n uint64) {
	p.rxBytes.Add(n)
	p.t.stats.rxBytes.Add(n)
}

func (p *Peer) countTx(n uint64) {
	p.txBytes.Add(n)
	p.t.stats.txBytes.Add(n)
}
