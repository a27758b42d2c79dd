// SPDX-License-Identifier: MIT

package core

import (
	"runtime/pprof"
	"sync"
	"sync/atomic"
)

// Ordered parallel crypto, the kernel's way: a batch of packets for one
// peer (a job) is appended to that peer's ordered queue first and then
// handed to the shared work queue. Any crypto worker may finish any job;
// after finishing one it drains the peer's queue from the head while the
// head is done. Packets thus leave in the order they were queued without a
// reorder buffer and without a goroutine per peer.

// packet is one slot of a job.
type packet struct {
	buf   *[]byte  // pooled buffer
	data  []byte   // outbound: the finished message; inbound: the datagram
	plain int      // inbound: plaintext length after decryption
	ctr   uint64   // the message counter
	nonce [12]byte // kept here so the AEAD call does not allocate one
	ep    Endpoint // inbound: where it came from
	ok    bool     // crypto succeeded
}

// job is a batch of packets for one peer and one keypair.
type job struct {
	peer     *Peer
	kp       *keypair
	outbound bool
	pkts     []packet
	done     atomic.Bool
	aborted  bool // never reached a worker: dropped, but in queue order
}

var jobPool = sync.Pool{New: func() any { return &job{pkts: make([]packet, 0, DefaultBatchSize)} }}

// getJob returns a job for packets of p sealed or opened with kp. The job
// takes over a reference to kp that the caller acquired for it; putJob
// releases it.
func getJob(p *Peer, kp *keypair, outbound bool) *job {
	p.t.busy.Add(1)
	j := jobPool.Get().(*job)
	j.peer, j.kp, j.outbound = p, kp, outbound
	j.done.Store(false)
	j.aborted = false
	return j
}

func putJob(j *job) {
	if j.peer != nil {
		j.peer.t.busy.Add(-1)
	}
	if j.kp != nil {
		j.kp.release()
	}
	clear(j.pkts)
	j.pkts = j.pkts[:0]
	j.peer, j.kp = nil, nil
	jobPool.Put(j)
}

// orderedQueue is one peer's FIFO of jobs in one direction.
type orderedQueue struct {
	mu      sync.Mutex
	jobs    []*job // jobs[head:] are pending
	head    int
	flushMu sync.Mutex // one drainer at a time keeps order on the wire
	flushFn func(*job)
	room    *sync.Cond // signalled when a job leaves; created on first wait
}

// waitRoom blocks until the queue has room for one more job. Only the
// device reader waits here: back-pressure on the send path lets the
// kernel's TUN queue and TCP pacing absorb a burst instead of dropping it
// inside the tunnel. The caller holds no other lock, so the workers that
// drain the queue can always make progress.
func (q *orderedQueue) waitRoom() {
	q.mu.Lock()
	for len(q.jobs)-q.head >= MaxPeerQueueJobs {
		if q.room == nil {
			q.room = sync.NewCond(&q.mu)
		}
		q.room.Wait()
	}
	q.mu.Unlock()
}

// push appends j unless the queue already holds MaxPeerQueueJobs.
func (q *orderedQueue) push(j *job) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs)-q.head >= MaxPeerQueueJobs {
		return false
	}
	if q.head > 0 && q.head == len(q.jobs) {
		clear(q.jobs)
		q.jobs, q.head = q.jobs[:0], 0
	}
	q.jobs = append(q.jobs, j)
	return true
}

// popDone removes and returns the head if its crypto is finished.
func (q *orderedQueue) popDone() *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.jobs) || !q.jobs[q.head].done.Load() {
		return nil
	}
	j := q.jobs[q.head]
	q.jobs[q.head] = nil
	q.head++
	if q.room != nil {
		q.room.Broadcast()
	}
	return j
}

// flush hands every finished job at the head to flushFn, in order. A worker
// that finishes a job always calls flush after marking it done; taking
// flushMu with Lock (not TryLock) guarantees that a job finished while
// another worker drains is still seen by someone.
func (q *orderedQueue) flush() {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	for {
		j := q.popDone()
		if j == nil {
			return
		}
		q.flushFn(j)
	}
}

// cryptoWorker encrypts or decrypts jobs from the shared work queue. Its
// CPU samples say crypto-worker while it seals or opens, and
// crypto-worker-flush-tx or -rx while it passes finished jobs on to the
// socket or the device: a flush runs under its peer queue's lock, one
// worker at a time per peer and direction, so it is the part of the
// parallel mode that more cores cannot spread (StageLabel).
func (t *Tunnel) cryptoWorker() {
	defer t.workers.Done()
	pprof.SetGoroutineLabels(stageCryptoWorker)
	for j := range t.work {
		q, outbound := cryptJob(j)
		if outbound {
			pprof.SetGoroutineLabels(stageCryptoWorkerFlushTx)
		} else {
			pprof.SetGoroutineLabels(stageCryptoWorkerFlushRx)
		}
		q.flush()
		pprof.SetGoroutineLabels(stageCryptoWorker)
	}
}

// runJob seals or opens a job, then passes on every finished job at the
// head of its peer's queue.
func runJob(j *job) {
	q, _ := cryptJob(j)
	q.flush()
}

// cryptJob seals or opens j, marks it done and returns the queue it
// belongs to and whether it was outbound. j is not touched after that:
// once it is done, a worker flushing the queue may pass it on and
// recycle it.
func cryptJob(j *job) (*orderedQueue, bool) {
	p := j.peer
	if j.outbound {
		encryptJob(j)
		j.done.Store(true)
		return &p.txQ, true
	}
	decryptJob(j)
	j.done.Store(true)
	return &p.rxQ, false
}

// enqueue hands a job that is already on its peer's ordered queue to the
// crypto workers. Only the device reader and the socket receivers block
// when the work queue is full (back-pressure); everyone else, the workers
// themselves included, must not, or all workers could wait on each other.
// A job that cannot be queued is aborted: marked done so that the ordered
// queue drops it in turn instead of stalling behind it.
//
// In inline mode the device reader and the socket receivers (the callers
// that may block) run their own jobs to completion instead: see CryptoMode.
// In parallel mode they do the same with a job of one packet (a ping, a
// lone ACK): one seal or open costs less than waking a worker, and the
// packet does not wait for the wake-up. Order is still kept by the peer's
// queue: a job finished early waits there for the ones before it.
func (t *Tunnel) enqueue(j *job, block bool) {
	if block && (t.inline || len(j.pkts) == 1) {
		runJob(j)
		return
	}
	t.workMu.RLock()
	if !t.workClosed {
		if block {
			t.work <- j
			t.workMu.RUnlock()
			return
		}
		select {
		case t.work <- j:
			t.workMu.RUnlock()
			return
		default:
		}
	}
	t.workMu.RUnlock()
	j.aborted = true
	p := j.peer
	outbound := j.outbound
	j.done.Store(true)
	if outbound {
		p.txQ.flush()
	} else {
		p.rxQ.flush()
	}
}
