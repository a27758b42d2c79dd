// SPDX-License-Identifier: MIT

package sdktest_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/wgplex/wgplex/plugins/sdk"
	"github.com/wgplex/wgplex/plugins/sdk/sdktest"
)

// memDiscovery is a discovery whose registry is a map in memory; with
// upsertFirst it sends an update ahead of the snapshot, a common mistake.
type memDiscovery struct {
	set         sdk.RecordSet
	once        sync.Once
	upsertFirst bool
}

func (m *memDiscovery) Put(r sdk.Record) error {
	m.ready()
	m.set.Put(r)
	return nil
}

func (m *memDiscovery) Delete(k sdk.Key) error {
	m.ready()
	m.set.Delete(k)
	return nil
}

func (m *memDiscovery) ready() { m.once.Do(func() { m.set.Replace(nil) }) }

func (m *memDiscovery) Publish(context.Context, sdk.Record) error { return nil }

func (m *memDiscovery) Watch(ctx context.Context, sink sdk.DiscoverySink) error {
	m.ready()
	if m.upsertFirst {
		if err := sink.Upsert(sdktest.NewRecord(7)); err != nil {
			return err
		}
	}
	return m.set.Watch(ctx, sink)
}

func TestMemDiscoveryPasses(t *testing.T) {
	m := &memDiscovery{}
	sdktest.Discovery(t, m, m)
}

func TestUpdateBeforeSnapshotFails(t *testing.T) {
	m := &memDiscovery{upsertFirst: true}
	var err error
	for _, c := range sdktest.DiscoveryChecks() {
		if c.Name == "SnapshotFirst" {
			err = c.Run(context.Background(), sdktest.DiscoveryUnderTest{Discovery: m, Registry: m})
		}
	}
	if err == nil || !strings.Contains(err.Error(), "Upsert before the first Snapshot") {
		t.Fatalf("SnapshotFirst: %v", err)
	}
	t.Log(err)
}
