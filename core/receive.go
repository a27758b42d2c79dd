// SPDX-License-Identifier: MIT

package core

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/wgplex/wgplex/core/noise"
)

// The receive path, from the UDP socket to the TUN device:
//
//	ReceiveFunc (batch, one goroutine per socket)
//	  │ routine receive: message type and length check
//	  ├─ initiation / response: screenHandshake, on this goroutine:
//	  │    MAC1 → under load: MAC2, else cookie reply (sent once per batch)
//	  │    → rate limit ──▶ t.hsQueue (bounded; its depth = "under load")
//	  │                       └▶ handshakeWorker: the DH work (handshake.go)
//	  ├─ cookie reply ──▶ t.hsQueue
//	  ▼ data: receiver index → keypair (unknown or expired: drop)
//	peer.rxQ (order)  +  t.work (shared) ──▶ cryptoWorker: open in place
//	  │ rxQ.flush, in order, under rxMu:
//	  │   replay window → confirm "next" keypair → roaming endpoint update
//	  │   → keepalive? → IP header check → source address ∈ peer's allowed IPs
//	  ▼
//	Device.Write (one call per job) ──▶ timers: data received, keepalive

// receive drives one ReceiveFunc until its socket closes; stage labels
// its CPU samples (setStage).
func (t *Tunnel) receive(fn ReceiveFunc, stage string) {
	defer t.recvWG.Done()
	setStage(stage)
	batch := t.bind.BatchSize()
	if batch <= 0 {
		batch = DefaultBatchSize
	}
	bufs := make([]*[]byte, batch)
	views := make([][]byte, batch)
	sizes := make([]int, batch)
	segs := make([]int, batch)
	eps := make([]Endpoint, batch)
	var st rxState
	defer func() {
		for _, b := range bufs {
			t.rxPool.put(b)
		}
		t.rxPool.put(st.spare)
	}()
	for i := range bufs {
		bufs[i] = t.rxPool.get(true)
		views[i] = *bufs[i]
	}
	// segs and eps are all zero before each call (a transport leaves
	// segs[i] zero for a plain datagram). After a batch only its first n
	// entries are cleared: clearing all of them cost a ping, one datagram
	// in a batch of 128, more than the rest of the loop's bookkeeping.
	for {
		n, err := fn(views, sizes, segs, eps)
		if err != nil {
			clear(segs)
			clear(eps)
			if errors.Is(err, net.ErrClosed) || t.isClosed() {
				return
			}
			t.rl.debug("Failed to receive packets", "err", err)
			continue
		}
		n = min(max(n, 0), batch)
		st.cur = nil
		st.now = t.clock.Now() // one clock read per batch, not per packet
		st.hs.reset()
		st.data = false
		datagrams := 0
		for i := 0; i < n; i++ {
			if st.spare == nil {
				st.spare = t.rxPool.get(false)
			}
			size := min(max(sizes[i], 0), len(views[i]))
			seg := segs[i]
			if seg <= 0 || seg > size {
				seg = size
			}
			taken, k := t.sortDatagrams(bufs[i], size, seg, eps[i], &st)
			datagrams += k
			if taken {
				// A job holds the buffer now; receive into the spare.
				bufs[i], st.spare = st.spare, nil
				views[i] = *bufs[i]
			}
		}
		t.stats.socketReadBatch.observe(float64(datagrams), uint64(datagrams))
		t.dispatchInbound(st.cur)
		st.cur = nil
		t.sendCookieReplies(&st.hs)
		clear(segs[:n])
		clear(eps[:n])
		if st.floodPause(n, batch) {
			// Real time, not t.clock: this paces system calls, it is
			// no protocol timer.
			time.Sleep(FloodReadPause)
		}
	}
}

// rxState is what the receive loop carries from one buffer to the next.
type rxState struct {
	cur   *job    // the job data messages are added to
	spare *[]byte // replaces a buffer a job takes; nil when the pool ran dry
	now   time.Time
	hs    hsScreen // handshake messages of the batch (handshake.go)
	data  bool     // the batch held a data message
}

// floodPause reports whether the receive loop should wait FloodReadPause
// before its next read, after a batch of n datagrams (of at most batch).
// Under a handshake flood, a short batch of handshake messages alone means
// the loop drained the socket and would otherwise wake for each datagram
// of the flood. Waiting a little lets them gather, so that one read takes
// many: the flood costs a wake-up and a system call per pause instead of
// per datagram, and leaves the cores to the data path. Data arriving
// meanwhile waits at most the pause, and only while under load; a batch
// with any data message in it, or a full one, is followed by a read at
// once.
func (st *rxState) floodPause(n, batch int) bool {
	return n < batch && !st.data && st.hs.loadRead && st.hs.load
}

// sortDatagrams hands the datagrams in (*buf)[:size], seg bytes each, on:
// handshake messages (copied) to the handshake queue and data messages to
// jobs. All data messages of a buffer go to one job, and the last of them
// owns the buffer, which returns to the pool when that job is done; a job
// may not share a buffer with another, whose end it cannot see. So when
// the keypair changes in the middle of a buffer, or the job is full, the
// rest of the buffer is first copied to a buffer of its own (rare: a
// rekey, or a flood of tiny datagrams). With no spare buffer for st the
// data messages are dropped. It reports whether a job took buf and how
// many datagrams the buffer held.
func (t *Tunnel) sortDatagrams(buf *[]byte, size, seg int, ep Endpoint, st *rxState) (taken bool, count int) {
	data := (*buf)[:size]
	if size == 0 || seg == 0 {
		t.stats.drop(DropMalformed)
		t.rl.debug("Received message with unknown type or bad length", "from", endpointString(ep), "len", 0)
		return false, 1
	}
	if st.cur != nil && len(st.cur.pkts)+(size+seg-1)/seg > cap(st.cur.pkts) {
		// Start the buffer in a job with room for all of it.
		t.dispatchInbound(st.cur)
		st.cur = nil
	}
	var owner *packet // the last packet added from buf
	copied := false   // the rest of the buffer moved to a buffer of its own
	for off := 0; off < len(data); off += seg {
		count++
		msg := data[off:min(off+seg, len(data))]
		typ, ok := noise.MessageType(msg)
		if !ok {
			t.stats.drop(DropMalformed)
			t.rl.debug("Received message with unknown type or bad length", "from", endpointString(ep), "len", len(msg))
			continue
		}
		switch typ {
		case noise.MessageTypeData:
			st.data = true
		case noise.MessageTypeCookieReply:
			t.queueHandshake(typ, msg, ep)
			continue
		default:
			t.screenHandshake(typ, msg, ep, st)
			continue
		}
		e, ok := t.index.lookup(noise.DataReceiverIndex(msg))
		if !ok || e.keypair == nil {
			t.stats.drop(DropNoKey)
			continue
		}
		kp := e.keypair
		if st.now.Sub(kp.created) >= RejectAfterTime {
			t.stats.drop(DropNoKey)
			continue
		}
		if owner == nil && !copied && st.spare == nil {
			t.stats.drop(DropQueueFull) // pool exhausted: keep the buffer
			continue
		}
		if st.cur == nil || st.cur.kp != kp || len(st.cur.pkts) == cap(st.cur.pkts) {
			// The new job's reference; it fails only if the keypair
			// was retired (and wiped) since the lookup.
			if !kp.acquire() {
				t.stats.drop(DropNoKey)
				continue
			}
			if owner != nil {
				nb := t.rxPool.get(false)
				if nb == nil {
					kp.release()
					t.stats.drop(DropQueueFull)
					continue
				}
				owner.buf = buf
				t.rxBufferCopies.Add(1)
				rest := copy(*nb, data[off:])
				buf, data, off = nb, (*nb)[:rest], 0
				msg = data[:min(seg, len(data))]
				owner, copied = nil, true
			}
			t.dispatchInbound(st.cur)
			st.cur = getJob(e.peer, kp, false)
		}
		st.cur.pkts = append(st.cur.pkts, packet{data: msg, ctr: noise.DataCounter(msg), ep: ep})
		owner = &st.cur.pkts[len(st.cur.pkts)-1]
	}
	switch {
	case owner != nil:
		owner.buf = buf
	case copied:
		t.rxPool.put(buf) // every datagram of the copy was dropped
	}
	return owner != nil || copied, count
}

// dispatchInbound queues a receive job on its peer and the work queue.
func (t *Tunnel) dispatchInbound(j *job) {
	if j == nil {
		return
	}
	if len(j.pkts) == 0 || !j.peer.rxQ.push(j) {
		for i := range j.pkts {
			t.stats.drop(DropQueueFull)
			t.rxPool.put(j.pkts[i].buf)
		}
		putJob(j)
		return
	}
	t.enqueue(j, true)
}

// decryptJob opens every packet of an inbound job in place.
func decryptJob(j *job) {
	for i := range j.pkts {
		pk := &j.pkts[i]
		binary.LittleEndian.PutUint64(pk.nonce[4:], pk.ctr)
		msg := pk.data
		plain, err := j.kp.recv.Open(msg[MessageHeadroom:MessageHeadroom], pk.nonce[:], msg[MessageHeadroom:], nil)
		if err != nil {
			pk.ok = false
			continue
		}
		pk.plain = len(plain)
		pk.ok = true
	}
}

// flushInbound finishes one decrypted job, in queue order.
func (p *Peer) flushInbound(j *job) {
	t := p.t
	p.rxMu.Lock()
	bufs := t.sendBufs.Get().(*[][]byte)
	views := (*bufs)[:0]
	var authenticated, data, confirmed bool
	var confirmedAt time.Time
	var lastEp Endpoint
	var rx uint64
	var unallowed netip.Addr // logged after the lock is released
	// One read lock for the whole job; nothing below blocks on I/O.
	t.routeMu.RLock()
	for i := range j.pkts {
		pk := &j.pkts[i]
		if j.aborted {
			t.stats.drop(DropQueueFull)
			continue
		}
		if !pk.ok {
			t.stats.drop(DropAuth)
			t.rl.debugf("%s - Failed to authenticate data packet", p.pub.Short())
			continue
		}
		if !j.kp.replay.Validate(pk.ctr, RejectAfterMessages) {
			t.stats.drop(DropReplay)
			continue
		}
		if !authenticated {
			// The first authenticated packet on a "next" keypair confirms
			// the handshake we answered; do it before anything is
			// delivered, so that a reply already finds the keypair current.
			confirmed = p.confirmKeypair(j.kp)
			if confirmed {
				confirmedAt = t.clock.Now()
			}
		}
		authenticated = true
		lastEp = pk.ep
		rx += uint64(len(pk.data))
		if pk.plain == 0 {
			continue // keepalive
		}
		inner := pk.data[MessageHeadroom : MessageHeadroom+pk.plain]
		size, src, ok := packetSrc(inner)
		if !ok {
			t.stats.drop(DropMalformed)
			continue
		}
		owner, found := t.routes.LookupBytes(src)
		if !found || owner != p {
			t.stats.drop(DropUnallowedSrc)
			unallowed, _ = netip.AddrFromSlice(src)
			continue
		}
		data = true
		views = append(views, pk.data[:MessageHeadroom+size])
	}
	t.routeMu.RUnlock()
	if unallowed.IsValid() {
		t.rl.debugf("Packet has unallowed src IP (%s) from peer %s", unallowed, p.pub.Short())
	}
	if len(views) > 0 {
		if _, err := t.dev.Write(views, MessageHeadroom); err != nil && !t.isClosed() {
			t.rl.debug("Failed to write packets to TUN device", "err", err)
		}
		t.stats.rxPackets.Add(uint64(len(views)))
	}
	clear(views)
	*bufs = views[:0]
	t.sendBufs.Put(bufs)
	p.rxMu.Unlock()

	for i := range j.pkts {
		t.rxPool.put(j.pkts[i].buf)
	}
	kp := j.kp
	// The job is released last: until then the tunnel counts as busy.
	defer putJob(j)
	if !authenticated {
		return
	}
	p.setEndpoint(lastEp)
	if confirmed {
		p.timersHandshakeComplete(confirmedAt)
		p.sendStaged()
	}
	p.timersAnyAuthenticatedPacketReceived()
	p.timersAnyAuthenticatedPacketTraversal()
	if data {
		p.timersDataReceived()
	}
	p.countRx(rx)
	// §6.2: an initiator that only receives must still rekey in time.
	if kp.initiator && t.clock.Now().Sub(kp.created) >= ReceiveRekeyThreshold {
		p.kpMu.RLock()
		isCur := p.cur == kp
		p.kpMu.RUnlock()
		if isCur {
			p.initiateHandshake(false)
		}
	}
}

// packetSrc validates an inner IP header and returns the packet's real
// length (padding removed) and its source address bytes.
func packetSrc(pkt []byte) (int, []byte, bool) {
	if len(pkt) < 1 {
		return 0, nil, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return 0, nil, false
		}
		n := int(binary.BigEndian.Uint16(pkt[2:4]))
		if n < 20 || n > len(pkt) {
			return 0, nil, false
		}
		return n, pkt[12:16], true
	case 6:
		if len(pkt) < 40 {
			return 0, nil, false
		}
		n := int(binary.BigEndian.Uint16(pkt[4:6])) + 40
		if n > len(pkt) {
			return 0, nil, false
		}
		return n, pkt[8:24], true
	}
	return 0, nil, false
}

func endpointString(ep Endpoint) string {
	if ep == nil {
		return "unknown"
	}
	return ep.String()
}
