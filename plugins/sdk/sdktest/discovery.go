// SPDX-License-Identifier: MIT

package sdktest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// Registry is the store a discovery plugin reads (a directory, an etcd
// prefix), driven by the suite the way other nodes would drive it.
type Registry interface {
	// Put announces r as another node would: write its file, put its key.
	Put(r sdk.Record) error
	// Delete withdraws the node with this key.
	Delete(key sdk.Key) error
}

// BatchRegistry may be implemented by a Registry whose writes are costly
// one by one (a file rewritten whole): the large-snapshot check then
// registers and withdraws its nodes in one call each.
type BatchRegistry interface {
	Registry
	// PutMany announces every record of rs.
	PutMany(rs []sdk.Record) error
	// DeleteMany withdraws every key of keys.
	DeleteMany(keys []sdk.Key) error
}

// DiscoveryUnderTest is a discovery plugin with the registry it reads.
type DiscoveryUnderTest struct {
	// Discovery is the implementation in process, or a launched plugin's
	// client (StartDiscovery).
	Discovery sdk.Discovery
	// Registry is what the plugin watches.
	Registry Registry
}

// Sizes and times of the discovery checks.
const (
	// LargeSnapshot is the number of nodes of the large-snapshot check.
	LargeSnapshot = 1000
	// Converge bounds how long a change in the registry may take to reach
	// the watcher: a polling plugin needs a few of its intervals.
	Converge = 20 * time.Second
)

// Discovery runs the discovery conformance suite.
func Discovery(t *testing.T, d sdk.Discovery, reg Registry) {
	t.Helper()
	run(t, DiscoveryChecks(), DiscoveryUnderTest{Discovery: d, Registry: reg})
}

// DiscoveryBinary launches the discovery plugin argv as the daemon does
// and runs the suite against it over gRPC.
func DiscoveryBinary(t *testing.T, reg Registry, argv ...string) {
	t.Helper()
	Discovery(t, StartDiscovery(t, argv...), reg)
}

// StartDiscovery launches the discovery plugin argv as the daemon does and
// returns its client; it is stopped when the test ends.
func StartDiscovery(t *testing.T, argv ...string) sdk.Discovery {
	t.Helper()
	p, err := plugins.Start(plugins.Config{Command: argv, Kind: sdk.KindDiscovery, Logger: testLog(t)})
	if err != nil {
		t.Fatalf("the daemon would refuse this discovery plugin: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	d, ok := p.Impl().(sdk.Discovery)
	if !ok {
		t.Fatalf("plugin dispensed %T, not a discovery", p.Impl())
	}
	return d
}

// DiscoveryChecks are the checks of the discovery suite, in order. Each
// uses nodes of its own, so they tolerate what earlier ones left.
func DiscoveryChecks() []Check[DiscoveryUnderTest] {
	return []Check[DiscoveryUnderTest]{
		{"Publish", checkPublish},
		{"SnapshotFirst", checkSnapshotFirst},
		{"UpdatesAndWithdrawals", checkUpdates},
		{"LargeSnapshot", checkLargeSnapshot},
		{"ReconnectResyncs", checkReconnect},
	}
}

// NewRecord returns a valid record of a random node; n picks its
// addresses.
func NewRecord(n int) sdk.Record {
	var k sdk.Key
	rand.Read(k[:])
	k[0] |= 1 // never all zeros
	return sdk.Record{
		PublicKey:           k,
		Endpoints:           []string{fmt.Sprintf("198.51.100.%d:%d", n%250+1, 51820+n%1000)},
		AllowedIPs:          []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), 32)},
		PersistentKeepalive: 25,
	}
}

// sameRecord compares what the daemon acts on; Name is the plugin's
// business (a file name, a host name).
func sameRecord(a, b *sdk.Record) bool {
	return a.PublicKey == b.PublicKey && slices.Equal(a.Endpoints, b.Endpoints) &&
		slices.Equal(a.AllowedIPs, b.AllowedIPs) && a.PersistentKeepalive == b.PersistentKeepalive &&
		a.PSKRef == b.PSKRef
}

// view is the daemon's side of a watch, with the checks the daemon makes
// on every event.
type view struct {
	mu        sync.Mutex
	changed   chan struct{}
	recs      map[sdk.Key]sdk.Record
	snapshots int
	events    int
	bad       error
}

func newView() *view { return &view{changed: make(chan struct{}), recs: map[sdk.Key]sdk.Record{}} }

// event records e under v.mu and wakes the waiters.
func (v *view) event(e func() error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.events++
	if err := e(); err != nil && v.bad == nil {
		v.bad = err
	}
	close(v.changed)
	v.changed = make(chan struct{})
	return nil
}

func (v *view) snapshotCount() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.snapshots
}

func (v *view) Snapshot(rs []sdk.Record) error {
	return v.event(func() error {
		v.snapshots++
		v.recs = make(map[sdk.Key]sdk.Record, len(rs))
		for i := range rs {
			if err := rs[i].Check(); err != nil {
				return fmt.Errorf("snapshot carries an invalid record: %w", err)
			}
			if _, dup := v.recs[rs[i].PublicKey]; dup {
				return fmt.Errorf("snapshot carries key %s twice", b64(rs[i].PublicKey))
			}
			v.recs[rs[i].PublicKey] = rs[i].Clone()
		}
		return nil
	})
}

func (v *view) Upsert(r sdk.Record) error {
	return v.event(func() error {
		if v.snapshots == 0 {
			return errors.New("Upsert before the first Snapshot: the daemon ignores updates until it has a snapshot")
		}
		if err := r.Check(); err != nil {
			return fmt.Errorf("Upsert of an invalid record: %w", err)
		}
		v.recs[r.PublicKey] = r.Clone()
		return nil
	})
}

func (v *view) Remove(k sdk.Key) error {
	return v.event(func() error {
		if v.snapshots == 0 {
			return errors.New("Remove before the first Snapshot: the daemon ignores updates until it has a snapshot")
		}
		delete(v.recs, k)
		return nil
	})
}

// wait waits until cond holds on the view, the view saw an invalid event,
// or Converge passes.
func (v *view) wait(ctx context.Context, what string, cond func(map[sdk.Key]sdk.Record) bool) error {
	deadline := time.NewTimer(Converge)
	defer deadline.Stop()
	for {
		v.mu.Lock()
		ok, bad, ch := cond(v.recs), v.bad, v.changed
		v.mu.Unlock()
		if bad != nil {
			return bad
		}
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("%s: not seen within %v of the change in the registry", what, Converge)
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

func has(rs ...sdk.Record) func(map[sdk.Key]sdk.Record) bool {
	return func(m map[sdk.Key]sdk.Record) bool {
		for i := range rs {
			got, ok := m[rs[i].PublicKey]
			if !ok || !sameRecord(&got, &rs[i]) {
				return false
			}
		}
		return true
	}
}

func lacks(keys ...sdk.Key) func(map[sdk.Key]sdk.Record) bool {
	return func(m map[sdk.Key]sdk.Record) bool {
		for _, k := range keys {
			if _, ok := m[k]; ok {
				return false
			}
		}
		return true
	}
}

// watch starts Watch into a fresh view; stop ends it and reports whether
// Watch returned promptly.
func watch(ctx context.Context, d sdk.Discovery) (*view, func() error) {
	v := newView()
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Watch(wctx, v) }()
	return v, func() error {
		cancel()
		select {
		case <-done:
			return nil
		case <-time.After(promptly):
			return fmt.Errorf("Watch had not returned %v after its context was cancelled: the daemon's next watch would run beside it", promptly)
		}
	}
}

func put(reg Registry, rs ...sdk.Record) error {
	for i := range rs {
		if err := reg.Put(rs[i]); err != nil {
			return fmt.Errorf("registry Put: %w", err)
		}
	}
	return nil
}

func checkPublish(ctx context.Context, u DiscoveryUnderTest) error {
	self := NewRecord(1)
	self.Name = "sdktest-self"
	if err := u.Discovery.Publish(ctx, self); err != nil {
		return fmt.Errorf("Publish of a valid record: %w (the daemon logs it and retries)", err)
	}
	return nil
}

func checkSnapshotFirst(ctx context.Context, u DiscoveryUnderTest) error {
	a, b := NewRecord(10), NewRecord(11)
	if err := put(u.Registry, a, b); err != nil {
		return err
	}
	defer u.Registry.Delete(a.PublicKey)
	defer u.Registry.Delete(b.PublicKey)
	v, stop := watch(ctx, u.Discovery)
	err := v.wait(ctx, "the first event", func(map[sdk.Key]sdk.Record) bool { return v.events > 0 })
	if err == nil && v.snapshotCount() == 0 {
		err = errors.New("the first event of a watch is not a Snapshot: the daemon needs the whole registry first")
	}
	if err == nil {
		err = v.wait(ctx, "two nodes registered before the watch", has(a, b))
	}
	return errors.Join(err, stop())
}

func checkUpdates(ctx context.Context, u DiscoveryUnderTest) error {
	v, stop := watch(ctx, u.Discovery)
	c := NewRecord(20)
	err := v.wait(ctx, "the first snapshot", func(map[sdk.Key]sdk.Record) bool { return v.snapshots > 0 })
	if err == nil {
		err = put(u.Registry, c)
	}
	if err == nil {
		err = v.wait(ctx, "a node registered during the watch", has(c))
	}
	if err == nil {
		c.Endpoints = []string{"203.0.113.7:4500"}
		c.AllowedIPs = append(c.AllowedIPs, netip.MustParsePrefix("fd00:20::/64"))
		if err = put(u.Registry, c); err == nil {
			err = v.wait(ctx, "a node's changed record", has(c))
		}
	}
	if err == nil {
		if err = u.Registry.Delete(c.PublicKey); err == nil {
			err = v.wait(ctx, "a node withdrawn from the registry", lacks(c.PublicKey))
		}
	}
	return errors.Join(err, stop())
}

func checkLargeSnapshot(ctx context.Context, u DiscoveryUnderTest) error {
	rs := make([]sdk.Record, LargeSnapshot)
	keys := make([]sdk.Key, len(rs))
	for i := range rs {
		rs[i] = NewRecord(1000 + i)
		keys[i] = rs[i].PublicKey
	}
	batch, _ := u.Registry.(BatchRegistry)
	if batch != nil {
		if err := batch.PutMany(rs); err != nil {
			return fmt.Errorf("registry PutMany: %w", err)
		}
	} else if err := put(u.Registry, rs...); err != nil {
		return err
	}
	v, stop := watch(ctx, u.Discovery)
	err := v.wait(ctx, fmt.Sprintf("%d nodes", len(rs)), has(rs...))
	if batch != nil {
		if derr := batch.DeleteMany(keys); derr != nil && err == nil {
			err = fmt.Errorf("registry DeleteMany: %w", derr)
		}
	} else {
		for _, k := range keys {
			if derr := u.Registry.Delete(k); derr != nil && err == nil {
				err = fmt.Errorf("registry Delete: %w", derr)
			}
		}
	}
	if err == nil {
		err = v.wait(ctx, fmt.Sprintf("%d nodes withdrawn", len(rs)), lacks(keys...))
	}
	return errors.Join(err, stop())
}

func checkReconnect(ctx context.Context, u DiscoveryUnderTest) error {
	x, y, z := NewRecord(30), NewRecord(31), NewRecord(32)
	if err := put(u.Registry, x, y); err != nil {
		return err
	}
	defer u.Registry.Delete(y.PublicKey)
	v, stop := watch(ctx, u.Discovery)
	err := errors.Join(v.wait(ctx, "nodes before the daemon went away", has(x, y)), stop())
	if err != nil {
		return err
	}
	// Changes while nobody watches, as while the daemon restarts.
	if err := errors.Join(put(u.Registry, z), u.Registry.Delete(x.PublicKey)); err != nil {
		return err
	}
	defer u.Registry.Delete(z.PublicKey)
	v, stop = watch(ctx, u.Discovery)
	err = v.wait(ctx, "the first event after a new Watch", func(map[sdk.Key]sdk.Record) bool { return v.events > 0 })
	if err == nil && v.snapshotCount() == 0 {
		err = errors.New("a new Watch did not start with a Snapshot")
	}
	if err == nil {
		err = v.wait(ctx, "changes made while no watch ran", func(m map[sdk.Key]sdk.Record) bool {
			return has(y, z)(m) && lacks(x.PublicKey)(m)
		})
	}
	return errors.Join(err, stop())
}
