// SPDX-License-Identifier: MIT

package core

import (
	"net/netip"
	"time"

	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/noise"
)

// The engine's side of the handshake: the Noise messages themselves are
// built and checked by core/noise and the MACs by core/cookie; this file
// does the I/O, the per-peer bookkeeping and the load handling of §5.3.

// hsJob is one received handshake or cookie message awaiting a worker.
// Initiations and responses get here only through screenHandshake, with
// only their Diffie-Hellman work left.
type hsJob struct {
	typ uint32
	msg []byte
	ep  Endpoint
}

// queueHandshake copies a handshake message onto the bounded handshake
// queue. A full queue drops it: that is exactly the flood case that cookies
// then push back on.
func (t *Tunnel) queueHandshake(typ uint32, msg []byte, ep Endpoint) {
	j := hsJob{typ: typ, msg: append([]byte(nil), msg...), ep: ep}
	t.busy.Add(1)
	select {
	case t.hsQueue <- j:
	default:
		t.busy.Add(-1)
		t.stats.drop(DropQueueFull)
		t.stats.received(typ, false)
	}
	if len(t.hsQueue) >= HandshakeQueueSize/8 {
		t.underLoadUntil.Store(t.clock.Now().Add(UnderLoadHold).UnixNano())
	}
}

// maxPendingReplies bounds the cookie replies a receive loop gathers
// before it sends them.
const maxPendingReplies = 64

// hsScreen is what a receive loop keeps for the handshake messages of one
// batch: the load state (read once), the cookie of the last source seen
// (a flood comes from few addresses) and the cookie replies to send when
// the batch is done, each a slot of replyBuf.
type hsScreen struct {
	loadRead, load bool
	src            [18]byte
	srcLen         int
	cookie         [cookie.MACSize]byte
	haveCookie     bool
	replyBuf       [maxPendingReplies * cookie.ReplySize]byte
	replies        [][]byte
	replyEps       []Endpoint
	// screened counts the batch's messages that needed a cookie, replied
	// to or not: what holds the load state (holdLoad).
	screened int
	// ver checks the MACs with hashes kept from one message to the next.
	ver *cookie.Verifier
	// spent is the last source refused a cookie reply in this batch; the
	// zero AddrPort (no datagram comes from it) when none was.
	spent netip.AddrPort
}

// reset starts a new batch. The cookie is not kept across batches: the
// secret it depends on rotates.
func (s *hsScreen) reset() {
	s.loadRead, s.haveCookie, s.spent = false, false, netip.AddrPort{}
}

// cookieFor returns the cookie of src, computing it only when src differs
// from the last one asked for in this batch.
func (s *hsScreen) cookieFor(c *cookie.Checker, src []byte, now time.Time) *[cookie.MACSize]byte {
	if !s.haveCookie || string(s.src[:s.srcLen]) != string(src) {
		s.cookie = c.Cookie(src, now)
		s.srcLen = copy(s.src[:], src)
		s.haveCookie = true
	}
	return &s.cookie
}

// screenHandshake runs on the receive path for an initiation or a
// response: the checks that cost a hash, not a Diffie-Hellman operation
// (§5.3, §5.4.4). A message with a bad MAC1 is dropped; under load, one
// without a valid MAC2 gets a cookie reply, gathered into the batch's
// replies and sent with them, while its source is within its reply rate,
// and one with a valid MAC2 goes on while its source is within its
// handshake rate; over either rate it is dropped. Only what is left, messages that will cost a Diffie-Hellman
// operation, is copied and queued for the handshake workers. A flood
// thus costs the receiving goroutine a hash or two per datagram and one
// send per batch, and never wakes a worker.
func (t *Tunnel) screenHandshake(typ uint32, msg []byte, ep Endpoint, st *rxState) {
	if ep == nil || !t.isUp.Load() {
		return
	}
	s := &st.hs
	if !s.loadRead {
		s.load, s.loadRead = t.underLoad(), true
	}
	from := ep.DstAddrPort()
	var sb [18]byte
	src := cookie.AppendSource(sb[:0], from)
	if s.ver == nil {
		s.ver = t.checker.NewVerifier()
	}
	var verdict cookie.Verdict
	if s.load {
		ck := s.cookieFor(t.checker, src, st.now)
		if from == s.spent && !s.ver.MAC2Valid(msg, ck) {
			// The source was refused a cookie reply earlier in this
			// batch (same clock reading, so still refused): without a
			// valid MAC2 the message is dropped whatever its MAC1, so
			// MAC1 is not computed. That is most of a long flood.
			t.stats.received(typ, false)
			s.screened++
			t.stats.drop(DropHandshakeRate)
			return
		}
		verdict = s.ver.Check(msg, ck)
	} else {
		verdict = s.ver.Check(msg, nil)
	}
	if verdict == cookie.VerdictInvalid {
		t.stats.drop(DropHandshake)
		t.stats.received(typ, false)
		if typ == noise.MessageTypeInitiation {
			t.rl.debugf("Invalid initiation MAC from %s", ep)
		} else {
			t.rl.debugf("Invalid response MAC from %s", ep)
		}
		return
	}
	if s.load {
		if verdict != cookie.VerdictMAC1AndMAC2Valid {
			t.stats.received(typ, false)
			// A source gets cookie replies at the rate its handshakes
			// would be taken with a cookie: more would be of no use to a
			// real initiator (it retries every REKEY_TIMEOUT) and would
			// only spend this goroutine's time and a send on a flood.
			s.screened++
			if !t.replyLimiter.Allow(from.Addr(), st.now) {
				s.spent = from
				t.stats.drop(DropHandshakeRate)
				return
			}
			t.addCookieReply(typ, msg, ep, st)
			return
		}
		if !t.limiter.Allow(from.Addr(), st.now) {
			t.stats.drop(DropHandshakeRate)
			t.stats.received(typ, false)
			return
		}
	}
	t.queueHandshake(typ, msg, ep)
}

// addCookieReply builds the cookie reply to msg into the batch's replies,
// sending those gathered so far first if there is no room left.
func (t *Tunnel) addCookieReply(typ uint32, msg []byte, ep Endpoint, st *rxState) {
	s := &st.hs
	if len(s.replies) == maxPendingReplies {
		t.sendCookieReplies(s)
	}
	sender := noise.InitiationSenderIndex(msg)
	if typ == noise.MessageTypeResponse {
		sender = noise.ResponseSenderIndex(msg)
	}
	i := len(s.replies)
	out := s.replyBuf[i*cookie.ReplySize : (i+1)*cookie.ReplySize]
	// The cookie was computed for this source by the MAC2 check.
	if err := t.checker.CreateReplyWithCookie(out, msg, sender, &s.cookie); err != nil {
		t.rl.debug("Failed to create cookie reply", "err", err)
		return
	}
	s.replies = append(s.replies, out)
	s.replyEps = append(s.replyEps, ep)
}

// sendCookieReplies sends the gathered cookie replies, one send per run of
// replies to the same address (a flood from one source: one per batch).
func (t *Tunnel) sendCookieReplies(s *hsScreen) {
	for i := 0; i < len(s.replies); {
		to := s.replyEps[i].DstAddrPort()
		j := i + 1
		for j < len(s.replies) && s.replyEps[j].DstAddrPort() == to {
			j++
		}
		if err := t.sendTo(s.replies[i:j], s.replyEps[i]); err == nil {
			t.stats.cookieRepliesSent.Add(uint64(j - i))
		}
		i = j
	}
	if s.screened > 0 {
		t.holdLoad(s.screened)
		s.screened = 0
	}
	clear(s.replyEps)
	s.replies, s.replyEps = s.replies[:0], s.replyEps[:0]
}

// holdLoad counts n messages that needed a cookie (replied to, or over
// their source's reply rate). A flood that only ever gets cookie replies
// no longer reaches the handshake queue, whose depth is what puts the
// interface under load; so while such messages come at the rate that
// depth stands for (an eighth of the queue within UnderLoadHold) or
// faster, the load state is held. A slower trickle lets it lapse: the
// workers can afford that. Receive goroutines race here harmlessly: at
// worst a window counts a few replies more or less.
func (t *Tunnel) holdLoad(n int) {
	now := t.clock.Now().UnixNano()
	if now-t.loadWindow.Load() > int64(UnderLoadHold) {
		t.loadWindow.Store(now)
		t.loadReplies.Store(0)
	}
	if t.loadReplies.Add(uint64(n)) >= HandshakeQueueSize/8 {
		t.loadWindow.Store(now)
		t.loadReplies.Store(0)
		t.underLoadUntil.Store(now + int64(UnderLoadHold))
	}
}

// underLoad reports whether handshakes currently require cookies.
func (t *Tunnel) underLoad() bool {
	if t.forceUnderLoad.Load() {
		return true
	}
	return t.clock.Now().UnixNano() < t.underLoadUntil.Load()
}

func (t *Tunnel) handshakeWorker() {
	defer t.workers.Done()
	setStage("handshake-worker")
	for j := range t.hsQueue {
		t.handleHandshake(j)
		t.busy.Add(-1)
	}
}

func (t *Tunnel) handleHandshake(j hsJob) {
	if !t.isUp.Load() || j.ep == nil {
		return
	}
	now := t.clock.Now()

	// Counted once the outcome is known: valid only if the message
	// authenticated and was acted on, so that random bytes of the right
	// size and type cannot pass for handshake traffic in the counters.
	valid := false
	defer func() { t.stats.received(j.typ, valid) }()

	if j.typ == noise.MessageTypeCookieReply {
		e, ok := t.index.lookup(noise.CookieReplyReceiverIndex(j.msg))
		if !ok {
			t.stats.drop(DropHandshake)
			return
		}
		if err := e.peer.cookies.ConsumeReply(j.msg, now); err != nil {
			t.stats.drop(DropHandshake)
			t.rl.debugf("Could not decrypt invalid cookie response from %s", j.ep)
			return
		}
		valid = true
		return
	}

	// Initiations and responses were screened on the receive path
	// (screenHandshake): MACs, load and rate limit are dealt with.
	switch j.typ {
	case noise.MessageTypeInitiation:
		valid = t.consumeInitiation(j, now)
	case noise.MessageTypeResponse:
		valid = t.consumeResponse(j, now)
	}
}

// consumeInitiation answers a valid initiation; it reports whether the
// message authenticated and installed a session.
func (t *Tunnel) consumeInitiation(j hsJob, now time.Time) bool {
	ks := t.currentKeyStore()
	if ks == nil {
		t.stats.drop(DropHandshake)
		return false
	}
	var peer *Peer
	lookup := func(remote PublicKey) ([32]byte, error) {
		peer = t.lookupPeer(remote)
		if peer == nil {
			return [32]byte{}, errUnknownPeer
		}
		peer.hsMu.Lock()
		defer peer.hsMu.Unlock()
		return peer.staticStatic()
	}
	st, err := noise.ConsumeInitiation(j.msg, keyStoreIdentity{t, ks}, lookup)
	if err != nil {
		t.stats.drop(DropHandshake)
		t.rl.debugf("Invalid handshake initiation from %s: %v", j.ep, err)
		return false
	}
	// CreateResponse wipes the state; a refused initiation must too.
	defer st.Zero()
	p := peer
	if p == nil || p.removed.Load() {
		return false
	}
	p.hsMu.Lock()
	// TAI64N replay protection and per-peer flood limit (§5.1).
	if !st.Timestamp.After(p.lastTimestamp) {
		p.hsMu.Unlock()
		t.stats.drop(DropHandshake)
		t.rl.debugf("%s - Handshake initiation replayed or stale", p.pub.Short())
		return false
	}
	if !p.lastInitConsumed.IsZero() && now.Sub(p.lastInitConsumed) < HandshakeInitiationRate {
		p.hsMu.Unlock()
		t.stats.drop(DropHandshake)
		return false
	}
	p.lastTimestamp = st.Timestamp
	p.lastInitConsumed = now
	idx := t.index.newIndex(indexEntry{peer: p})
	var resp [noise.ResponseSize]byte
	keys, err := noise.CreateResponse(resp[:], st, idx, p.presharedKey())
	if err != nil {
		p.hsMu.Unlock()
		t.index.delete(idx)
		t.rl.debug("Failed to create handshake response", "peer", p.pub.Short(), "err", err)
		return false
	}
	p.cookies.AddMACs(resp[:], now)
	kp, err := newKeypair(&keys, false, idx, st.SenderIndex, now, p)
	p.hsMu.Unlock()
	if err != nil {
		t.index.delete(idx)
		return false
	}
	t.index.swap(idx, indexEntry{peer: p, keypair: kp})
	p.installKeypair(kp)
	p.countRx(uint64(len(j.msg)))
	p.setEndpoint(j.ep)
	t.rl.debugf("%s - Received handshake initiation", p.pub.Short())
	// Timers before the send, as the kernel does: once the response is on
	// the wire the initiator's data may arrive at once, and its
	// data-received hook must not be undone by our packet-sent hook.
	p.timersSessionDerived()
	p.timersAnyAuthenticatedPacketTraversal()
	p.timersAnyAuthenticatedPacketSent()
	if err := t.sendTo([][]byte{resp[:]}, j.ep); err != nil {
		t.rl.debug("Failed to send handshake response", "peer", p.pub.Short(), "err", err)
		return true
	}
	p.countTx(uint64(len(resp)))
	t.stats.responsesSent.Add(1)
	return true
}

// consumeResponse completes a handshake this side initiated; it reports
// whether the message authenticated and installed a session.
func (t *Tunnel) consumeResponse(j hsJob, now time.Time) bool {
	e, ok := t.index.lookup(noise.ResponseReceiverIndex(j.msg))
	if !ok || e.keypair != nil {
		t.stats.drop(DropHandshake)
		return false
	}
	p := e.peer
	ks := t.currentKeyStore()
	if ks == nil {
		return false
	}
	p.hsMu.Lock()
	st := p.initiation
	if st == nil || st.LocalIndex() != noise.ResponseReceiverIndex(j.msg) {
		p.hsMu.Unlock()
		t.stats.drop(DropHandshake)
		return false
	}
	keys, remote, err := noise.ConsumeResponse(j.msg, st, keyStoreIdentity{t, ks}, p.presharedKey())
	if err != nil {
		p.hsMu.Unlock()
		t.stats.drop(DropHandshake)
		t.rl.debugf("%s - Invalid handshake response: %v", p.pub.Short(), err)
		return false
	}
	p.initiation = nil
	started := p.handshakeStarted
	kp, err := newKeypair(&keys, true, st.LocalIndex(), remote, now, p)
	p.hsMu.Unlock()
	if err != nil {
		t.index.delete(st.LocalIndex())
		return false
	}
	t.index.swap(kp.localIndex, indexEntry{peer: p, keypair: kp})
	p.installKeypair(kp)
	if !started.IsZero() {
		d := now.Sub(started)
		t.stats.handshakeDuration.observe(d.Seconds(), uint64(d))
	}
	p.countRx(uint64(len(j.msg)))
	p.setEndpoint(j.ep)
	t.rl.debugf("%s - Received handshake response", p.pub.Short())
	t.stats.handshakesAsInitiator.Add(1)
	p.timersSessionDerived()
	p.timersHandshakeComplete(now)
	p.timersAnyAuthenticatedPacketTraversal()
	p.timersAnyAuthenticatedPacketReceived()
	// Send what waited for this handshake; with nothing waiting, a
	// keepalive confirms the session to the responder at once.
	p.sendKeepalive()
	return true
}

// hsTrigger says why an initiation is wanted; it decides whether the
// attempt count starts again.
type hsTrigger uint8

const (
	// hsDemand: data waits for a session. New demand starts a new round
	// of attempts, as in the kernel.
	hsDemand hsTrigger = iota
	// hsRetry: the retransmit timer; the round goes on.
	hsRetry
	// hsKeepalive: only a keepalive waits. It joins the round under way
	// instead of restarting it, so that a persistent keepalive shorter
	// than Rekey-Attempt-Time cannot keep an unreachable peer retrying
	// forever without ever counting a failure; it starts a new round only
	// when none is under way (the last one completed or gave up).
	hsKeepalive
)

// initiateHandshake sends a handshake initiation (§5.4.2) unless one went
// out less than Rekey-Timeout ago. isRetry distinguishes the retransmit
// timer from new demand, which resets the attempt count.
func (p *Peer) initiateHandshake(isRetry bool) {
	if isRetry {
		p.initiate(hsRetry)
	} else {
		p.initiate(hsDemand)
	}
}

// initiate is initiateHandshake with the reason spelled out.
func (p *Peer) initiate(why hsTrigger) {
	t := p.t
	if !t.isUp.Load() || p.removed.Load() {
		return
	}
	now := t.clock.Now()
	p.hsMu.Lock()
	newRound := why == hsDemand || (why == hsKeepalive && p.initiation == nil)
	if newRound {
		p.attempts = 0
	}
	if !p.lastInitiationSent.IsZero() && now.Sub(p.lastInitiationSent) < RekeyTimeout {
		p.hsMu.Unlock()
		return
	}
	if why == hsKeepalive && !newRound {
		// A keepalive-driven initiation is one more attempt of the round,
		// bounded like the retransmits; at the bound the retransmit timer
		// (no longer pushed back by these) gives the round up.
		if p.attempts >= MaxTimerHandshakes {
			p.hsMu.Unlock()
			return
		}
		p.attempts++
	}
	ep := p.getEndpoint()
	ks := t.currentKeyStore()
	if ep == nil || ks == nil {
		p.hsMu.Unlock()
		if ep == nil {
			t.stats.drop(DropNoEndpoint)
			t.rl.debugf("%s - No known endpoint for peer", p.pub.Short())
		}
		return
	}
	ss, err := p.staticStatic()
	if err != nil {
		p.hsMu.Unlock()
		t.rl.debug("Key store failed", "peer", p.pub.Short(), "err", err)
		return
	}
	if p.initiation != nil {
		t.index.delete(p.initiation.LocalIndex())
		p.initiation.Zero()
		p.initiation = nil
	}
	idx := t.index.newIndex(indexEntry{peer: p})
	var msg [noise.InitiationSize]byte
	st, err := noise.CreateInitiation(msg[:], ks.PublicKey(), p.pub, ss, idx, noise.TimestampFromTime(now))
	if err != nil {
		p.hsMu.Unlock()
		t.index.delete(idx)
		t.rl.debug("Failed to create handshake initiation", "peer", p.pub.Short(), "err", err)
		return
	}
	p.cookies.AddMACs(msg[:], now)
	p.initiation = st
	p.lastInitiationSent = now
	if newRound || p.handshakeStarted.IsZero() {
		p.handshakeStarted = now
	}
	p.hsMu.Unlock()

	t.rl.debugf("%s - Sending handshake initiation", p.pub.Short())
	p.timersAnyAuthenticatedPacketTraversal()
	p.timersAnyAuthenticatedPacketSent()
	// The retransmit timer is armed before the send: armed after it, a
	// response (or cookie reply) racing back could be handled first, and
	// the timer would then retransmit a finished handshake.
	p.timersHandshakeInitiated()
	if err := t.sendTo([][]byte{msg[:]}, ep); err != nil {
		t.rl.debug("Failed to send handshake initiation", "peer", p.pub.Short(), "err", err)
	} else {
		p.countTx(uint64(len(msg)))
		t.stats.initiationsSent.Add(1)
	}
}

// keyStoreIdentity adapts a KeyStore to noise.Identity and counts the
// static-key operations it is asked for.
type keyStoreIdentity struct {
	t  *Tunnel
	ks KeyStore
}

func (k keyStoreIdentity) PublicKey() noise.PublicKey { return k.ks.PublicKey() }

func (k keyStoreIdentity) DH(peer noise.PublicKey) ([32]byte, error) {
	k.t.stats.keyStoreCalls.Add(1)
	return k.ks.DH(peer)
}
