// SPDX-License-Identifier: MIT

package core

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Every timer of the protocol, per peer (whitepaper §6; the event names
// follow the Linux kernel's timers.c so they can be compared):
//
//	retransmitHandshake  RekeyTimeout (5 s) + jitter ≤ RekeyTimeoutJitterMax (333 ms)
//	                     after an initiation; re-sends it, and after
//	                     MaxTimerHandshakes tries (RekeyAttemptTime, 90 s) gives
//	                     up: drops the staged packets (§6.4) and forgets the
//	                     initiation, so the peer reads as idle. A persistent
//	                     keepalive that finds a round under way adds an
//	                     attempt to it rather than restarting it, so an
//	                     unreachable peer with keepalives still gives up;
//	                     after giving up it starts a new round one interval
//	                     later.
//	sendKeepalive        KeepaliveTimeout (10 s) after data was received with
//	                     nothing sent back: send an empty packet (§6.5).
//	newHandshake         NewHandshakeTimeout (15 s) + jitter after data was
//	                     sent without any authenticated reply: start a new
//	                     handshake, the peer may have lost its state (§6.5).
//	zeroKeyMaterial      ZeroKeyMaterialTimeout (3 × RejectAfterTime, 540 s)
//	                     after a session was derived: erase every key (§6.3).
//	persistentKeepalive  the configured interval after any authenticated
//	                     packet in either direction: send a keepalive, to
//	                     keep NAT and firewall state alive (§6.5).
//
// The rekey conditions that are checks rather than timers live with the
// code that checks them: RekeyAfterMessages / RekeyAfterTime on send
// (sendStaged), ReceiveRekeyThreshold on receive (flushInbound),
// RejectAfterTime / RejectAfterMessages on both.
//
// Timers read time from the Tunnel's Clock. The data path arms and disarms
// them on every packet (a reply deletes the keepalive timer, the next packet
// in the other direction arms it again), so the clock's timer is kept
// apart from the protocol's view of it:
//
//   - del only marks the timer not pending; the clock's timer stays set,
//     and its callback finds nothing to do when it comes;
//   - mod to a deadline no earlier than the one the clock's timer is set
//     for only records the new deadline; the callback re-arms itself for
//     the remainder when it comes early.
//
// So a steady exchange of packets makes no call into the clock at all: a
// lock and a compare per hook, instead of a Stop and a Reset of a runtime
// timer per packet (which take the runtime's timer lock and can wake its
// network poller). What it costs is one callback per abandoned deadline,
// at most one per timer and timeout (10-15 s for the data-path timers), so
// nothing runs more often at idle. Peers that go away stop their timers
// for real (stopTimers).

type peerTimer struct {
	t       Timer
	pending bool      // armed as the protocol sees it
	when    time.Time // the deadline, when pending
	// set is whether the clock's timer is set (its callback still to come),
	// and at the deadline it was set for. A callback that has begun clears
	// set under the lock, so set may read false while a callback Reset
	// concurrently is still to come (costing a spare Reset), never true
	// with none to come.
	set   bool
	setAt time.Time
	fire  func()
}

type peerTimers struct {
	mu                   sync.Mutex
	stopped              bool
	retransmitHandshake  peerTimer
	sendKeepalive        peerTimer
	newHandshake         peerTimer
	zeroKeyMaterial      peerTimer
	persistentKeepalive  peerTimer
	needAnotherKeepalive bool
}

func (ts *peerTimers) init(p *Peer) {
	ts.retransmitHandshake.fire = p.expiredRetransmitHandshake
	ts.sendKeepalive.fire = p.expiredSendKeepalive
	ts.newHandshake.fire = p.expiredNewHandshake
	ts.zeroKeyMaterial.fire = p.expiredZeroKeyMaterial
	ts.persistentKeepalive.fire = p.expiredPersistentKeepalive
}

func jitter() time.Duration { return rand.N(RekeyTimeoutJitterMax) }

// mod arms pt to fire d from now. Caller holds p.timers.mu.
func (p *Peer) mod(pt *peerTimer, d time.Duration) {
	ts := &p.timers
	if ts.stopped {
		return
	}
	when := p.t.clock.Now().Add(d)
	pt.when, pt.pending = when, true
	if pt.set && !when.Before(pt.setAt) {
		return // the callback comes first and re-arms for the remainder
	}
	pt.set, pt.setAt = true, when
	if pt.t == nil {
		pt.t = p.t.clock.AfterFunc(d, func() { p.fire(pt) })
	} else {
		pt.t.Reset(d)
	}
}

// del disarms pt, lazily: the clock's timer stays set and its callback
// finds pt not pending. Caller holds p.timers.mu.
func (p *Peer) del(pt *peerTimer) {
	pt.pending = false
}

// stop disarms pt and the clock's timer with it. Caller holds
// p.timers.mu.
func (p *Peer) stop(pt *peerTimer) {
	pt.pending, pt.set = false, false
	if pt.t != nil {
		pt.t.Stop()
	}
}

func (p *Peer) fire(pt *peerTimer) {
	ts := &p.timers
	ts.mu.Lock()
	pt.set = false
	if !pt.pending || ts.stopped {
		ts.mu.Unlock()
		return
	}
	if rest := pt.when.Sub(p.t.clock.Now()); rest > 0 {
		pt.set, pt.setAt = true, pt.when
		pt.t.Reset(rest)
		ts.mu.Unlock()
		return
	}
	pt.pending = false
	f := pt.fire
	ts.mu.Unlock()
	f()
}

// stopTimers disarms every timer for good (peer removed) or until
// startTimers (interface down).
func (p *Peer) stopTimers() {
	ts := &p.timers
	ts.mu.Lock()
	ts.stopped = true
	for _, pt := range []*peerTimer{&ts.retransmitHandshake, &ts.sendKeepalive, &ts.newHandshake, &ts.zeroKeyMaterial, &ts.persistentKeepalive} {
		p.stop(pt)
	}
	ts.needAnotherKeepalive = false
	ts.mu.Unlock()
}

func (p *Peer) startTimers() {
	p.timers.mu.Lock()
	p.timers.stopped = false
	p.timers.mu.Unlock()
}

// Expiry handlers.

func (p *Peer) expiredRetransmitHandshake() {
	p.hsMu.Lock()
	attempts := p.attempts
	if attempts < MaxTimerHandshakes {
		p.attempts++
	}
	p.hsMu.Unlock()
	if attempts >= MaxTimerHandshakes {
		p.t.rl.debugf("Handshake for peer %s did not complete after %d attempts, giving up", p.pub.Short(), attempts+1)
		p.t.stats.handshakesFailed.Add(1)
		p.abandonInitiation()
		iv := p.keepaliveInterval()
		p.timers.mu.Lock()
		p.del(&p.timers.sendKeepalive)
		if !p.timers.zeroKeyMaterial.pending {
			p.mod(&p.timers.zeroKeyMaterial, ZeroKeyMaterialTimeout)
		}
		if iv > 0 {
			// A persistent keepalive asks for the tunnel to stay up: try
			// again one interval from now, a new round that can fail (and
			// be counted) in turn. A short interval's timer fired during
			// the round and found the initiation rate-limited, so nothing
			// else would re-arm it.
			p.mod(&p.timers.persistentKeepalive, iv)
		}
		p.timers.mu.Unlock()
		p.dropStaged()
		return
	}
	p.t.rl.debugf("Handshake for peer %s did not complete after 5 seconds, retrying (try %d)", p.pub.Short(), attempts+2)
	p.clearEndpointSrc()
	p.initiateHandshake(true)
}

func (p *Peer) expiredSendKeepalive() {
	p.sendKeepalive()
	p.timers.mu.Lock()
	if p.timers.needAnotherKeepalive {
		p.timers.needAnotherKeepalive = false
		p.mod(&p.timers.sendKeepalive, KeepaliveTimeout)
	}
	p.timers.mu.Unlock()
}

func (p *Peer) expiredNewHandshake() {
	p.t.rl.debugf("%s - Retrying handshake because we stopped hearing back after 15 seconds", p.pub.Short())
	p.clearEndpointSrc()
	p.initiateHandshake(false)
}

func (p *Peer) expiredZeroKeyMaterial() {
	p.t.rl.debugf("%s - Zeroing out all keys, since we haven't received a new one in 540 seconds", p.pub.Short())
	p.zeroKeys()
}

func (p *Peer) expiredPersistentKeepalive() {
	if p.keepaliveInterval() > 0 {
		p.sendKeepalive()
	}
}

// Event hooks, called by the send and receive paths.

func (p *Peer) timersDataSent() {
	p.timers.mu.Lock()
	if !p.timers.newHandshake.pending {
		p.mod(&p.timers.newHandshake, NewHandshakeTimeout+jitter())
	}
	p.timers.mu.Unlock()
}

func (p *Peer) timersDataReceived() {
	p.timers.mu.Lock()
	if !p.timers.sendKeepalive.pending {
		p.mod(&p.timers.sendKeepalive, KeepaliveTimeout)
	} else {
		p.timers.needAnotherKeepalive = true
	}
	p.timers.mu.Unlock()
}

func (p *Peer) timersAnyAuthenticatedPacketSent() {
	p.timers.mu.Lock()
	p.del(&p.timers.sendKeepalive)
	p.timers.mu.Unlock()
}

func (p *Peer) timersAnyAuthenticatedPacketReceived() {
	p.timers.mu.Lock()
	p.del(&p.timers.newHandshake)
	p.timers.mu.Unlock()
}

func (p *Peer) timersHandshakeInitiated() {
	p.timers.mu.Lock()
	p.mod(&p.timers.retransmitHandshake, RekeyTimeout+jitter())
	p.timers.mu.Unlock()
}

// timersHandshakeComplete records a finished handshake. at is when it
// finished (the response consumed, or the first data on a keypair we
// answered for), taken by the caller before it delivered anything, so that
// the time does not depend on how long the delivery took.
func (p *Peer) timersHandshakeComplete(at time.Time) {
	p.timers.mu.Lock()
	p.del(&p.timers.retransmitHandshake)
	p.timers.mu.Unlock()
	p.hsMu.Lock()
	p.attempts = 0
	p.handshakeStarted = time.Time{}
	p.hsMu.Unlock()
	p.lastHandshake.Store(at.UnixNano())
	p.t.stats.handshakesCompleted.Add(1)
}

func (p *Peer) timersSessionDerived() {
	p.timers.mu.Lock()
	p.mod(&p.timers.zeroKeyMaterial, ZeroKeyMaterialTimeout)
	p.timers.mu.Unlock()
}

func (p *Peer) timersAnyAuthenticatedPacketTraversal() {
	if iv := p.keepaliveInterval(); iv > 0 {
		p.timers.mu.Lock()
		p.mod(&p.timers.persistentKeepalive, iv)
		p.timers.mu.Unlock()
	}
}
