// SPDX-License-Identifier: MIT

package core

import (
	"encoding/binary"
	"errors"
	"net"

	"github.com/wgplex/wgplex/core/noise"
)

// The send path, from the TUN device to the UDP socket:
//
//	Device.Read (batch, headroom left for the header)
//	  │ routine readDevice: parse destination, allowed-IPs lookup → peer
//	  │   (no peer: ICMP unreachable back into the Device, icmp.go;
//	  │    our own outer datagram coming back: dropped, loop.go)
//	  ▼
//	peer.staged (bounded)   ── no usable keypair? ──▶ handshake initiation
//	  │ sendStaged: assign counters, pad, one job per peer batch
//	  ▼
//	peer.txQ (order)  +  t.work (shared) ──▶ cryptoWorker: seal in place
//	  │ txQ.flush: jobs leave in queue order
//	  ▼
//	Bind.Send (one call per job) ──▶ timers: data sent, keepalive, rekey
//
// Keepalives travel the same way as an empty packet.

// readDevice is the one goroutine reading the device.
func (t *Tunnel) readDevice() {
	defer t.workers.Done()
	setStage("device-read")
	batch := t.dev.BatchSize()
	if batch <= 0 {
		batch = 1
	}
	bufs := make([]*[]byte, batch)
	views := make([][]byte, batch)
	sizes := make([]int, batch)
	peers := make([]*Peer, batch)
	// The device sees each buffer without its last sealRoom bytes, so
	// that whatever it reads can be padded and sealed in place.
	bufSize := 0
	for i := range bufs {
		bufs[i] = t.txPool.get(true)
		views[i] = (*bufs[i])[:len(*bufs[i])-sealRoom]
	}
	type group struct {
		peer *Peer
		pkts []stagedPacket
	}
	var groups []group
	var unreach *unreachResponder
	if !t.noICMP {
		unreach = newUnreachResponder(t.clock)
	}
	for {
		if s := t.txPool.currentSize(); s != bufSize {
			// The MTU changed: buffers sized for a smaller one would
			// make the device drop packets of the new size.
			bufSize = s
			for i := range bufs {
				if len(*bufs[i]) < bufSize {
					t.txPool.put(bufs[i])
					bufs[i] = t.txPool.get(true)
					views[i] = (*bufs[i])[:len(*bufs[i])-sealRoom]
				}
			}
		}
		n, err := t.dev.Read(views, sizes, MessageHeadroom)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || t.isClosed() {
				break
			}
			t.log.Error("Failed to read packet from TUN device", "err", err)
			if t.isClosed() {
				break
			}
			continue
		}
		groups = groups[:0]
		t.stats.deviceReadBatch.observe(float64(n), uint64(n))
		if !t.isUp.Load() {
			continue
		}
		// Route the whole batch under one read lock. Nothing in this loop
		// blocks, which matters: a writer waiting on routeMu stops new
		// readers, and the workers that free buffers are readers too.
		t.routeMu.RLock()
		for i := 0; i < n; i++ {
			peers[i] = nil
			size := sizes[i]
			if size <= 0 {
				continue
			}
			pkt := views[i][MessageHeadroom : MessageHeadroom+size]
			dst, ok := packetDst(pkt)
			if !ok {
				t.stats.drop(DropMalformed)
				continue
			}
			if size > MaxPacketSize || MessageHeadroom+size > len(views[i]) {
				t.stats.drop(DropTooLarge)
				continue
			}
			peer, found := t.routes.LookupBytes(dst)
			if !found {
				t.stats.drop(DropNoPeer)
				if unreach != nil {
					unreach.queue(pkt)
				}
				continue
			}
			peers[i] = peer
		}
		t.routeMu.RUnlock()
		if unreach != nil {
			if _, err := unreach.flush(t.dev); err != nil && !t.isClosed() {
				t.rl.debug("Failed to write ICMP unreachable to TUN device", "err", err)
			}
		}
		for i := 0; i < n; i++ {
			peer := peers[i]
			if peer == nil {
				continue
			}
			size := sizes[i]
			if t.routingLoop(views[i][MessageHeadroom : MessageHeadroom+size]) {
				// The buffer stays with the reader for the next read.
				t.stats.drop(DropRoutingLoop)
				t.rl.debugf("%s - Dropping a packet routed back into the tunnel (routing loop)", peer.pub.Short())
				continue
			}
			gi := -1
			for k := range groups {
				if groups[k].peer == peer {
					gi = k
					break
				}
			}
			if gi < 0 {
				// Reuse the slot's packet slice from earlier batches: a
				// fresh group would allocate one per batch.
				if len(groups) < cap(groups) {
					groups = groups[:len(groups)+1]
					groups[len(groups)-1].peer = peer
				} else {
					groups = append(groups, group{peer: peer})
				}
				gi = len(groups) - 1
			}
			groups[gi].pkts = append(groups[gi].pkts, stagedPacket{buf: bufs[i], n: size})
			// The buffer now belongs to the peer's queue; take a fresh one.
			bufs[i] = t.txPool.get(true)
			views[i] = (*bufs[i])[:len(*bufs[i])-sealRoom]
		}
		for k := range groups {
			groups[k].peer.stage(groups[k].pkts)
			clear(groups[k].pkts)
			groups[k].pkts = groups[k].pkts[:0]
			groups[k].peer = nil
		}
	}
	for _, b := range bufs {
		t.txPool.put(b)
	}
}

// packetDst returns the destination address bytes of an IPv4 or IPv6 packet.
func packetDst(pkt []byte) ([]byte, bool) {
	if len(pkt) < 1 {
		return nil, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return nil, false
		}
		return pkt[16:20], true
	case 6:
		if len(pkt) < 40 {
			return nil, false
		}
		return pkt[24:40], true
	}
	return nil, false
}

// stage queues packets for the peer, dropping the oldest beyond
// MaxStagedPackets, then tries to send everything staged.
func (p *Peer) stage(pkts []stagedPacket) {
	p.stageMu.Lock()
	p.staged = append(p.staged, pkts...)
	var excess []stagedPacket
	if over := len(p.staged) - MaxStagedPackets; over > 0 {
		excess = append(excess, p.staged[:over]...)
		p.staged = append(p.staged[:0], p.staged[over:]...)
	}
	p.stageMu.Unlock()
	for _, s := range excess {
		p.t.stats.drop(DropQueueFull)
		p.t.txPool.put(s.buf)
	}
	p.sendStagedBlocking(true)
}

// sendStaged moves staged packets onto the encryption queue if the peer has
// a usable keypair, and otherwise starts a handshake (§6.2). It also keeps
// the key fresh: a keypair that reached Rekey-After-Messages, or that we
// initiated Rekey-After-Time ago, triggers a new handshake while still in use.
func (p *Peer) sendStaged() { p.sendStagedBlocking(false) }

// sendStagedBlocking is sendStaged for the device reader, which may wait
// for room on the work queue.
func (p *Peer) sendStagedBlocking(block bool) {
	t := p.t
	if !t.isUp.Load() || p.removed.Load() {
		return
	}
	now := t.clock.Now()
	kp := p.sendKeypair(now)
	if kp == nil {
		if p.onlyKeepalivesStaged() {
			p.initiate(hsKeepalive)
		} else {
			p.initiate(hsDemand)
		}
		return
	}
	// Each job takes a reference of its own (acquire cannot fail while
	// this one is held).
	defer kp.release()
	if block {
		p.txQ.waitRoom()
	}
	// Room for the usual one or two jobs without an allocation.
	var jobsBuf [4]*job
	jobs := jobsBuf[:0]
	p.stageMu.Lock()
	if len(p.staged) == 0 {
		p.stageMu.Unlock()
		return
	}
	mtu := int(t.mtu.Load())
	kp.acquire()
	j := getJob(p, kp, true)
	var last uint64
	for _, s := range p.staged {
		ctr := kp.sendCounter.Add(1) - 1
		if ctr >= RejectAfterMessages {
			t.stats.drop(DropNoKey)
			t.txPool.put(s.buf)
			continue
		}
		last = ctr
		buf := *s.buf
		// Pad to a multiple of 16 (§5.4.6) without passing the MTU.
		padded := (s.n + 15) &^ 15
		if padded > mtu && s.n <= mtu {
			padded = mtu
		}
		if padded < s.n {
			padded = s.n
		}
		clear(buf[MessageHeadroom+s.n : MessageHeadroom+padded])
		j.pkts = append(j.pkts, packet{buf: s.buf, data: buf[:MessageHeadroom+padded], ctr: ctr})
		if len(j.pkts) == cap(j.pkts) {
			jobs = append(jobs, j)
			kp.acquire()
			j = getJob(p, kp, true)
		}
	}
	clear(p.staged)
	p.staged = p.staged[:0]
	if len(j.pkts) > 0 {
		jobs = append(jobs, j)
	} else {
		putJob(j)
	}
	for i, jb := range jobs {
		if !p.txQ.push(jb) {
			for _, jj := range jobs[i:] {
				for k := range jj.pkts {
					t.stats.drop(DropQueueFull)
					t.txPool.put(jj.pkts[k].buf)
				}
				putJob(jj)
			}
			jobs = jobs[:i]
			break
		}
	}
	p.stageMu.Unlock()
	for _, jb := range jobs {
		t.enqueue(jb, block)
	}
	if last >= RekeyAfterMessages || (kp.initiator && now.Sub(kp.created) >= RekeyAfterTime) {
		p.initiateHandshake(false)
	}
}

// onlyKeepalivesStaged reports whether everything waiting is a keepalive
// (or nothing is), i.e. whether no data asks for a session.
func (p *Peer) onlyKeepalivesStaged() bool {
	p.stageMu.Lock()
	defer p.stageMu.Unlock()
	for _, s := range p.staged {
		if s.n > 0 {
			return false
		}
	}
	return true
}

// sendKeepalive sends an empty data message (§6.5). If nothing is staged an
// empty packet is staged, so that with no keypair it starts a handshake.
func (p *Peer) sendKeepalive() {
	p.stageMu.Lock()
	empty := len(p.staged) == 0
	p.stageMu.Unlock()
	if empty {
		buf := p.t.txPool.get(false)
		if buf == nil {
			p.t.stats.drop(DropQueueFull)
			return
		}
		p.stageMu.Lock()
		p.staged = append(p.staged, stagedPacket{buf: buf, n: 0})
		p.stageMu.Unlock()
		p.t.stats.keepalivesSent.Add(1)
	}
	p.sendStaged()
}

// encryptJob seals every packet of an outbound job in place.
func encryptJob(j *job) {
	for i := range j.pkts {
		pk := &j.pkts[i]
		msg := pk.data
		binary.LittleEndian.PutUint64(pk.nonce[4:], pk.ctr)
		noise.PutDataHeader(msg[:MessageHeadroom], j.kp.remoteIndex, pk.ctr)
		sealed := j.kp.send.Seal(msg[MessageHeadroom:MessageHeadroom], pk.nonce[:], msg[MessageHeadroom:], nil)
		pk.data = msg[:MessageHeadroom+len(sealed)]
		pk.ok = true
	}
}

// flushOutbound sends one finished job; called in queue order.
func (p *Peer) flushOutbound(j *job) {
	t := p.t
	defer func() {
		for i := range j.pkts {
			t.txPool.put(j.pkts[i].buf)
		}
		putJob(j)
	}()
	if j.aborted {
		for range j.pkts {
			t.stats.drop(DropQueueFull)
		}
		return
	}
	ep := p.getEndpoint()
	if ep == nil {
		for range j.pkts {
			t.stats.drop(DropNoEndpoint)
		}
		return
	}
	bufs := t.sendBufs.Get().(*[][]byte)
	views := (*bufs)[:0]
	var bytes uint64
	data := false
	for i := range j.pkts {
		views = append(views, j.pkts[i].data)
		bytes += uint64(len(j.pkts[i].data))
		if len(j.pkts[i].data) > MessageHeadroom+noise.TagSize {
			data = true
		}
	}
	// The packet-sent hooks run before the send (as in the kernel), so that
	// a reply racing back cannot have its data-received hook undone.
	p.timersAnyAuthenticatedPacketTraversal()
	p.timersAnyAuthenticatedPacketSent()
	// Data-sent arms the new-handshake timer; armed after the send, a reply
	// that had already deleted it would be undone and a needless
	// handshake would follow 15 s later.
	if data {
		p.timersDataSent()
	}
	err := t.sendTo(views, ep)
	clear(views)
	*bufs = views[:0]
	t.sendBufs.Put(bufs)
	if err != nil {
		t.rl.debug("Failed to send data packets", "peer", p.pub.Short(), "err", err)
		return
	}
	p.countTx(bytes)
	t.stats.txPackets.Add(uint64(len(j.pkts)))
}

// sendTo sends through the current bind, if the interface is up.
func (t *Tunnel) sendTo(bufs [][]byte, ep Endpoint) error {
	t.bindMu.RLock()
	defer t.bindMu.RUnlock()
	if !t.bindOpen {
		return errBindClosed
	}
	return t.bind.Send(bufs, ep)
}

var errBindClosed = errors.New("interface is down")
