// SPDX-License-Identifier: MIT

package plugins

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// The queue keeps the latest update of each key, in the order keys first
// came; a snapshot drops what waited before it; past its bound it drops
// everything and says why.
func TestEventQueue(t *testing.T) {
	q := newEventQueue(sdk.WatchLimits{MaxSnapshotRecords: 3, MaxSnapshotPrefixes: 100}.WithDefaults())
	put := func(i int, port string) error {
		r := nodeRecord(i)
		r.Endpoints = []string{"198.51.100.1:" + port}
		return q.put(core.PublicKey(r.PublicKey), queuedEvent{rec: r})
	}
	for _, e := range []error{put(1, "1"), put(2, "1"), put(1, "2"), put(3, "1")} {
		if e != nil {
			t.Fatal(e)
		}
	}
	_, has, evs := q.take()
	if has || len(evs) != 3 || evs[0].rec.Endpoints[0] != "198.51.100.1:2" || evs[1].rec.PublicKey != nodeRecord(2).PublicKey {
		t.Fatalf("took snapshot=%v %+v", has, evs)
	}
	select {
	case <-q.idle():
		t.Fatal("idle while the batch taken is being applied")
	default:
	}
	q.done()
	<-q.idle()

	put(1, "3")
	q.putSnapshot([]sdk.Record{nodeRecord(5)})
	put(2, "3")
	snap, has, evs := q.take()
	if !has || len(snap) != 1 || len(evs) != 1 || evs[0].rec.PublicKey != nodeRecord(2).PublicKey {
		t.Fatalf("after a snapshot: snapshot=%v (%d) %+v", has, len(snap), evs)
	}
	q.done()

	for i := 0; i < 3; i++ {
		if err := put(i, "4"); err != nil {
			t.Fatal(err)
		}
	}
	if err := put(9, "4"); sdk.Refusal(err) != reasonOverflow {
		t.Fatalf("a fourth key: %v", err)
	}
	if _, _, evs := q.take(); len(evs) != 0 {
		t.Fatalf("%d updates left after an overflow", len(evs))
	}
	if dropped, peak := q.stats(); peak != 3 || dropped < 4 {
		t.Fatalf("dropped %d, peak %d", dropped, peak)
	}
}

// A batch applied in one pass keeps to the registry view's bound and
// counts what it refused.
func TestDiscoveryBatchKeepsLimits(t *testing.T) {
	tun := newTestTunnel(t)
	initial := make([]sdk.Record, 90)
	for i := range initial {
		initial[i] = nodeRecord(i)
	}
	fake := newFake(initial...)
	m := NewDiscoveryMetrics()
	d := startFakeDiscoveryWith(t, fake, DiscoveryOptions{Tunnel: tun, Metrics: m, Limits: sdk.WatchLimits{MaxSnapshotRecords: 100}})
	waitLong(t, "the snapshot applied", func() bool { return len(peers(tun)) == 90 })
	fake.events <- func(s sdk.DiscoverySink) error {
		for i := 90; i < 190; i++ {
			if err := s.Upsert(nodeRecord(i)); err != nil {
				return err
			}
		}
		return nil
	}
	waitLong(t, "the refusals counted", func() bool { return counter(t, m, reasonTooManyRecords) == 90 })
	waitIdle(t, d)
	if n := len(peers(tun)); n != 100 {
		t.Fatalf("%d peers, want the bound of 100", n)
	}
}

// nodeRecord is fleet node i: its own key, endpoint and /32.
func nodeRecord(i int) sdk.Record {
	var k sdk.Key
	binary.BigEndian.PutUint32(k[:], uint32(i)+1)
	k[31] = 0x42
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 10<<24+uint32(i))
	return sdk.Record{PublicKey: k, Name: fmt.Sprintf("node%d", i),
		Endpoints:  []string{netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 51820).String()},
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(a), 32)}}
}

// waitLong is coretest.WaitFor with room for a loaded machine.
func waitLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
	}
}

// waitIdle waits until discovery applied everything queued.
func waitIdle(t *testing.T, d *Discovery) {
	t.Helper()
	select {
	case <-d.queue.idle():
	case <-time.After(2 * time.Minute):
		t.Fatal("discovery never caught up with the queued updates")
	}
}
