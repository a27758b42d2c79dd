// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/wgplex/wgplex/plugins/discovery-etcd/etcdrecord"

	"github.com/hashicorp/go-hclog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// Timings of the loops below.
const (
	requestTimeout = 5 * time.Second // one Grant, Put or Get
	retryInterval  = time.Second     // after a failed attempt
	revokeTimeout  = 2 * time.Second // on the way out
)

// registry is the etcd discovery: it implements sdk.Discovery on top of
// three loops (registration, watch, connection monitor) that share a
// client.
type registry struct {
	cli    *clientv3.Client
	prefix string
	ttl    time.Duration
	log    hclog.Logger
	set    sdk.RecordSet

	mu   sync.Mutex
	self *sdk.Record

	selfChanged chan struct{} // Publish changed the record
	reregister  chan struct{} // put the record again (reconnect, deleted)
	relist      chan struct{} // list the prefix again (reconnect)
}

var _ sdk.Discovery = (*registry)(nil)

func newRegistry(cli *clientv3.Client, prefix string, ttl time.Duration, log hclog.Logger) *registry {
	return &registry{
		cli: cli, prefix: prefix, ttl: ttl, log: log,
		selfChanged: make(chan struct{}, 1),
		reregister:  make(chan struct{}, 1),
		relist:      make(chan struct{}, 1),
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Publish implements sdk.Discovery: the record is registered in the
// background, and kept registered across outages.
func (r *registry) Publish(_ context.Context, self sdk.Record) error {
	self = self.Clone()
	r.preferRoute(&self)
	r.mu.Lock()
	same := r.self != nil && r.self.Equal(&self)
	r.self = &self
	r.mu.Unlock()
	if !same {
		signal(r.selfChanged)
	} else {
		// The daemon publishes an unchanged record when the registry
		// shows it something else under this node's key: put it again.
		signal(r.reregister)
	}
	return nil
}

// Watch implements sdk.Discovery.
func (r *registry) Watch(ctx context.Context, sink sdk.DiscoverySink) error {
	return r.set.Watch(ctx, sink)
}

// preferRoute moves to the front the endpoints on the address this host
// uses to reach etcd: of all the addresses a host has, that is the one
// most likely reachable by the other nodes, which reach etcd too. It
// asks the routing table (a UDP "connect" sends nothing).
func (r *registry) preferRoute(self *sdk.Record) {
	eps := r.cli.Endpoints()
	if len(eps) == 0 || len(self.Endpoints) < 2 {
		return
	}
	u, err := url.Parse(eps[0])
	if err != nil || u.Host == "" {
		return
	}
	c, err := net.Dial("udp", u.Host)
	if err != nil {
		return
	}
	src, _ := netip.ParseAddrPort(c.LocalAddr().String())
	c.Close()
	local := src.Addr().Unmap()
	rank := func(e string) int {
		host, _, err := net.SplitHostPort(e)
		if a, aerr := netip.ParseAddr(host); err == nil && aerr == nil && a.Unmap() == local {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(self.Endpoints, func(a, b string) int { return rank(a) - rank(b) })
}

func (r *registry) current() *sdk.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.self
}

// start runs the loops until ctx is done; the channel closes when they
// have ended (the lease revoked, if there was one).
func (r *registry) start(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); r.registerLoop(ctx) }()
	go func() { defer wg.Done(); r.watchLoop(ctx) }()
	go func() { defer wg.Done(); r.monitor(ctx) }()
	go func() { wg.Wait(); close(done) }()
	return done
}

// sleep waits d or until ctx is done, and reports whether ctx is alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// registerLoop keeps this node's record in etcd under a live lease.
func (r *registry) registerLoop(ctx context.Context) {
	failing := false
	fail := func(msg string, err error) {
		if !failing {
			r.log.Warn(msg+"; retrying", "err", err)
			failing = true
		}
	}
	for ctx.Err() == nil {
		self := r.current()
		if self == nil {
			select {
			case <-ctx.Done():
				return
			case <-r.selfChanged:
			}
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		lease, err := r.cli.Grant(rctx, int64((r.ttl+time.Second-1)/time.Second))
		cancel()
		if err != nil {
			fail("Cannot get a lease from etcd", err)
			sleep(ctx, retryInterval)
			continue
		}
		if err := r.put(ctx, self, lease.ID); err != nil {
			fail("Cannot register in etcd", err)
			sleep(ctx, retryInterval)
			continue
		}
		failing = false
		r.log.Info("Registered in etcd", "key", etcdrecord.Name(r.prefix, self.PublicKey), "lease", int64(lease.ID), "ttl", r.ttl.String())
		if !r.keepRegistered(ctx, lease.ID) {
			return
		}
	}
}

// keepRegistered renews the lease and puts the record again when it
// changes or may have been lost. It returns false when ctx is done (after
// revoking the lease, so that the others drop this node at once) and true
// when the lease is gone and a new one is needed.
func (r *registry) keepRegistered(ctx context.Context, id clientv3.LeaseID) bool {
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ka, err := r.cli.KeepAlive(kctx, id)
	if err != nil {
		r.log.Warn("Cannot keep the lease alive", "err", err)
		return ctx.Err() == nil
	}
	var retry <-chan time.Time
	putKey := r.current().PublicKey
	for {
		select {
		case <-ctx.Done():
			rctx, rcancel := context.WithTimeout(context.Background(), revokeTimeout)
			_, err := r.cli.Revoke(rctx, id)
			rcancel()
			if err == nil {
				r.log.Info("Left etcd: lease revoked")
			}
			return false
		case _, ok := <-ka:
			if !ok {
				r.log.Warn("Lease expired or lost; registering again")
				return true
			}
			continue
		case <-r.selfChanged:
		case <-r.reregister:
		case <-retry:
		}
		retry = nil
		self := r.current()
		if err := r.put(ctx, self, id); err != nil {
			r.log.Warn("Cannot update the record in etcd; retrying", "err", err)
			retry = time.After(retryInterval)
			continue
		}
		if self.PublicKey != putKey {
			// A new interface key: the old record must not linger until
			// the lease ends.
			rctx, rcancel := context.WithTimeout(ctx, requestTimeout)
			_, err := r.cli.Delete(rctx, etcdrecord.Name(r.prefix, putKey))
			rcancel()
			if err != nil {
				r.log.Warn("Cannot delete the record of the previous key", "err", err)
			}
			putKey = self.PublicKey
		}
		r.log.Info("Record updated in etcd", "key", etcdrecord.Name(r.prefix, self.PublicKey))
	}
}

func (r *registry) put(ctx context.Context, self *sdk.Record, id clientv3.LeaseID) error {
	val, err := etcdrecord.Encode(self)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	_, err = r.cli.Put(rctx, etcdrecord.Name(r.prefix, self.PublicKey), string(val), clientv3.WithLease(id))
	return err
}

// watchLoop lists the prefix, hands the result over as a snapshot and
// follows the changes from that revision on; whenever the watch breaks or
// the connection came back, it starts over with a new listing.
func (r *registry) watchLoop(ctx context.Context) {
	failing := false
	listed := false
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		resp, err := r.cli.Get(rctx, r.prefix, clientv3.WithPrefix())
		cancel()
		if err != nil {
			if !failing {
				r.log.Warn("Cannot list the registry; retrying", "err", err)
				failing = true
			}
			sleep(ctx, retryInterval)
			continue
		}
		failing = false
		recs := make([]sdk.Record, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			if rec, ok := r.parse(kv.Key, kv.Value); ok {
				recs = append(recs, rec)
			}
		}
		r.set.Replace(recs)
		if listed {
			r.log.Info("Registry resynchronised", "records", len(recs), "revision", resp.Header.Revision)
		} else {
			r.log.Info("Registry listed", "records", len(recs), "revision", resp.Header.Revision)
			listed = true
		}
		// Drop a relist request that this listing answers.
		select {
		case <-r.relist:
		default:
		}
		r.follow(ctx, resp.Header.Revision+1)
	}
}

// follow applies watch events until the watch fails or a relist is asked
// for.
func (r *registry) follow(ctx context.Context, rev int64) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := r.cli.Watch(wctx, r.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.relist:
			return
		case wr, ok := <-wch:
			if !ok {
				return
			}
			if err := wr.Err(); err != nil {
				r.log.Warn("Watch interrupted; listing again", "err", err)
				sleep(ctx, retryInterval/4)
				return
			}
			for _, ev := range wr.Events {
				r.apply(ev)
			}
		}
	}
}

func (r *registry) apply(ev *clientv3.Event) {
	name := string(ev.Kv.Key)
	k, err := etcdrecord.KeyFromName(r.prefix, name)
	if err != nil {
		r.log.Warn("Ignoring a key in the registry", "err", err)
		return
	}
	self := r.current()
	own := self != nil && self.PublicKey == k
	if ev.Type == clientv3.EventTypeDelete {
		if own {
			r.log.Warn("This node's record was deleted from etcd; registering it again")
			signal(r.reregister)
		}
		r.set.Delete(k)
		return
	}
	if own {
		// Without a lease of ours or with other content, someone else
		// wrote it: put ours back at once rather than at the next change.
		if want, err := etcdrecord.Encode(self); err == nil && string(want) != string(ev.Kv.Value) {
			r.log.Warn("This node's record was overwritten in etcd; registering it again")
			signal(r.reregister)
		}
	}
	if rec, ok := r.parse(ev.Kv.Key, ev.Kv.Value); ok {
		r.set.Put(rec)
	} else {
		r.set.Delete(k)
	}
}

// parse reads one registry entry; malformed ones are logged and skipped.
// This node's own record is passed on like the others: the daemon checks
// that it is still the one it published.
func (r *registry) parse(key, val []byte) (sdk.Record, bool) {
	rec, err := etcdrecord.Parse(r.prefix, string(key), val)
	if err != nil {
		r.log.Warn("Ignoring a malformed record in the registry", "err", err)
		return sdk.Record{}, false
	}
	return rec, true
}

// monitor follows the state of the connection to etcd. When it comes
// back after a loss, the record is put again (the lease may have expired
// meanwhile, or etcd lost its data) and the prefix listed again (the
// watch may have missed a compacted revision).
func (r *registry) monitor(ctx context.Context) {
	conn := r.cli.ActiveConnection()
	if conn == nil {
		return
	}
	lost := false
	up := false
	for {
		st := conn.GetState()
		switch {
		case st == connectivity.Ready && lost:
			lost = false
			r.log.Info("Reconnected to etcd")
			signal(r.reregister)
			signal(r.relist)
		case st == connectivity.Ready:
			up = true
		case up && !lost && (st == connectivity.TransientFailure || st == connectivity.Idle || st == connectivity.Connecting):
			lost = true
			r.log.Warn("Lost the connection to etcd; keeping the last view", "state", st.String())
		}
		if !conn.WaitForStateChange(ctx, st) {
			return
		}
	}
}
