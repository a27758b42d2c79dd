// SPDX-License-Identifier: MIT

package sdk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/wgplex/wgplex/plugins/proto/discovery/v1"
)

// fleetRecord is node i of a synthetic fleet: a key and a /32 of its own.
func fleetRecord(i int) Record {
	var k Key
	binary.BigEndian.PutUint32(k[:], uint32(i)+1)
	k[31] = 0x42
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 10<<24+uint32(i))
	return Record{
		PublicKey:           k,
		Name:                fmt.Sprintf("node%d", i),
		Endpoints:           []string{netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 51820).String()},
		AllowedIPs:          []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4(a), 32)},
		PersistentKeepalive: 25,
	}
}

func fleetRecords(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		out[i] = fleetRecord(i)
	}
	return out
}

// serveDiscovery serves srv over a Unix socket and returns a client
// connection to it; sent counts the messages the server sent.
func serveDiscovery(t testing.TB, srv discoveryv1.DiscoveryServer, sent *atomic.Int64, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	count := func(s any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(s, &countingStream{ServerStream: ss, n: sent})
	}
	g := grpc.NewServer(grpc.StreamInterceptor(count))
	discoveryv1.RegisterDiscoveryServer(g, srv)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient("unix://"+sock, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type countingStream struct {
	grpc.ServerStream
	n *atomic.Int64
}

func (s *countingStream) SendMsg(m any) error {
	if s.n != nil {
		s.n.Add(1)
	}
	return s.ServerStream.SendMsg(m)
}

// snapshotOnce is a plugin that sends one snapshot and then waits.
type snapshotOnce struct{ recs []Record }

func (snapshotOnce) Publish(context.Context, Record) error { return nil }
func (p snapshotOnce) Watch(ctx context.Context, sink DiscoverySink) error {
	if err := sink.Snapshot(p.recs); err != nil {
		return err
	}
	<-ctx.Done()
	return ctx.Err()
}

// snapSink hands each snapshot to a channel; limits and reports are
// optional.
type snapSink struct {
	snaps   chan []Record
	lim     WatchLimits
	invalid atomic.Int64
}

func (s *snapSink) Snapshot(recs []Record) error { s.snaps <- recs; return nil }
func (s *snapSink) Upsert(Record) error          { return nil }
func (s *snapSink) Remove(Key) error             { return nil }
func (s *snapSink) WatchLimits() WatchLimits     { return s.lim }
func (s *snapSink) InvalidRecord(error)          { s.invalid.Add(1) }

// watch runs c.Watch in the background; the returned channel gets its
// error.
func watch(t testing.TB, c *DiscoveryClient, sink DiscoverySink) (<-chan error, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- c.Watch(ctx, sink) }()
	return done, cancel
}

func waitSnap(t testing.TB, s *snapSink, done <-chan error) []Record {
	t.Helper()
	select {
	case recs := <-s.snaps:
		return recs
	case err := <-done:
		t.Fatalf("watch ended before the snapshot: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("no snapshot")
	}
	return nil
}

// A snapshot far past what fits one gRPC message goes through the SDK
// on both sides in chunks of about a MiB, and arrives whole and once.
func TestSnapshotStreamedInChunks(t *testing.T) {
	n := 120_000
	if testing.Short() {
		n = 30_000
	}
	recs := fleetRecords(n)
	var sent atomic.Int64
	conn := serveDiscovery(t, &discoveryServer{impl: snapshotOnce{recs}}, &sent)
	sink := &snapSink{snaps: make(chan []Record, 1)}
	done, _ := watch(t, NewDiscoveryClient(conn), sink)
	got := waitSnap(t, sink, done)
	if len(got) != n {
		t.Fatalf("%d records arrived, want %d", len(got), n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if want := fleetRecord(i); !got[i].Equal(&want) {
			t.Fatalf("record %d arrived as %+v", i, got[i])
		}
	}
	// ~60 bytes a record: several chunks, none over the limit (gRPC would
	// have refused it past 4 MiB).
	if c := sent.Load(); c < int64(n*50/SnapshotChunkBytes) {
		t.Fatalf("%d messages for %d records: not chunked", c, n)
	}
	select {
	case recs := <-sink.snaps:
		t.Fatalf("a second snapshot of %d records", len(recs))
	default:
	}
}

// oldHostWatch reads a watch as a daemon from before chunks does: no
// accept_chunked, every Snapshot message taken as the whole set.
func oldHostWatch(t *testing.T, conn *grpc.ClientConn) *discoveryv1.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := discoveryv1.NewDiscoveryClient(conn).Watch(ctx, &discoveryv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// A plugin built with this SDK sends an older daemon its snapshot in one
// message, never with more set.
func TestSnapshotToOldHostIsOneMessage(t *testing.T) {
	recs := fleetRecords(20_000) // about 1.3 MiB: chunked for a new daemon
	var sent atomic.Int64
	conn := serveDiscovery(t, &discoveryServer{impl: snapshotOnce{recs}}, &sent)
	msg := oldHostWatch(t, conn)
	snap := msg.GetSnapshot()
	if snap == nil || snap.GetMore() || len(snap.GetRecords()) != len(recs) {
		t.Fatalf("an old daemon got %d records, more=%v", len(snap.GetRecords()), snap.GetMore())
	}
}

// oldPlugin is a plugin from before chunks: it ignores accept_chunked
// and sends its snapshot as one message, then the updates queued.
type oldPlugin struct {
	discoveryv1.UnimplementedDiscoveryServer
	msgs []*discoveryv1.WatchResponse
	hold bool // keep the stream open after the messages
}

func (p *oldPlugin) Watch(_ *discoveryv1.WatchRequest, s discoveryv1.Discovery_WatchServer) error {
	for _, m := range p.msgs {
		if err := s.Send(m); err != nil {
			return err
		}
	}
	if p.hold {
		<-s.Context().Done()
	}
	return nil
}

func snapMsg(more bool, recs ...Record) *discoveryv1.WatchResponse {
	s := &discoveryv1.Snapshot{More: more}
	for i := range recs {
		s.Records = append(s.Records, RecordToProto(&recs[i]))
	}
	return &discoveryv1.WatchResponse{Event: &discoveryv1.WatchResponse_Snapshot{Snapshot: s}}
}

// A daemon with this SDK takes an older plugin's single-message snapshot
// as the whole set, and assembles a hand-made chunked one.
func TestOldPluginSnapshotAccepted(t *testing.T) {
	recs := fleetRecords(15_000)
	conn := serveDiscovery(t, &oldPlugin{msgs: []*discoveryv1.WatchResponse{snapMsg(false, recs...)}, hold: true}, nil)
	sink := &snapSink{snaps: make(chan []Record, 1)}
	done, _ := watch(t, NewDiscoveryClient(conn), sink)
	if got := waitSnap(t, sink, done); len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}

	conn = serveDiscovery(t, &oldPlugin{msgs: []*discoveryv1.WatchResponse{
		snapMsg(true, recs[:3]...), snapMsg(true), snapMsg(false, recs[3:5]...),
	}, hold: true}, nil)
	sink = &snapSink{snaps: make(chan []Record, 1)}
	done, _ = watch(t, NewDiscoveryClient(conn), sink)
	if got := waitSnap(t, sink, done); len(got) != 5 || !got[4].Equal(&recs[4]) {
		t.Fatalf("assembled %d records, want 5", len(got))
	}
}

// Each limit ends the watch with its reason, and the sink never sees the
// snapshot that broke it.
func TestSnapshotLimits(t *testing.T) {
	recs := fleetRecords(100)
	many := fleetRecord(1)
	for i := 0; i < 50; i++ {
		many.AllowedIPs = append(many.AllowedIPs, netip.PrefixFrom(netip.AddrFrom4([4]byte{11, 0, 0, byte(i)}), 32))
	}
	for _, c := range []struct {
		name   string
		msgs   []*discoveryv1.WatchResponse
		lim    WatchLimits
		reason string
	}{
		{"records", []*discoveryv1.WatchResponse{snapMsg(true, recs[:60]...), snapMsg(false, recs[60:]...)},
			WatchLimits{MaxSnapshotRecords: 99}, RefusedSnapshotRecords},
		{"prefixes", []*discoveryv1.WatchResponse{snapMsg(false, recs...)},
			WatchLimits{MaxSnapshotPrefixes: 50}, RefusedSnapshotPrefixes},
		{"bytes", []*discoveryv1.WatchResponse{snapMsg(true, recs[:50]...), snapMsg(false, recs[50:]...)},
			WatchLimits{MaxSnapshotBytes: 4000}, RefusedSnapshotBytes},
		{"update between chunks", []*discoveryv1.WatchResponse{snapMsg(true, recs[:50]...),
			{Event: &discoveryv1.WatchResponse_Upsert{Upsert: RecordToProto(&recs[0])}}},
			WatchLimits{}, RefusedProtocol},
		{"never finishes", []*discoveryv1.WatchResponse{snapMsg(true, recs...)},
			WatchLimits{SnapshotTimeout: 100 * time.Millisecond}, RefusedSnapshotTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn := serveDiscovery(t, &oldPlugin{msgs: c.msgs, hold: true}, nil)
			sink := &snapSink{snaps: make(chan []Record, 1), lim: c.lim}
			done, _ := watch(t, NewDiscoveryClient(conn), sink)
			select {
			case err := <-done:
				if Refusal(err) != c.reason || !errors.Is(err, ErrBadRecord) {
					t.Fatalf("watch ended with %v (reason %q), want reason %q", err, Refusal(err), c.reason)
				}
			case recs := <-sink.snaps:
				t.Fatalf("a snapshot of %d records passed", len(recs))
			case <-time.After(time.Minute):
				t.Fatal("the watch did not end")
			}
		})
	}
	// A record past the per-record limits is skipped and reported; the
	// rest of the snapshot is taken.
	conn := serveDiscovery(t, &oldPlugin{msgs: []*discoveryv1.WatchResponse{snapMsg(false, append([]Record{many}, recs[2:]...)...)}, hold: true}, nil)
	sink := &snapSink{snaps: make(chan []Record, 1), lim: WatchLimits{MaxRecordAllowedIPs: 10}}
	done, _ := watch(t, NewDiscoveryClient(conn), sink)
	if got := waitSnap(t, sink, done); len(got) != len(recs)-2 || sink.invalid.Load() != 1 {
		t.Fatalf("%d records taken, %d reported; want %d and 1", len(got), sink.invalid.Load(), len(recs)-2)
	}
	if err := (WatchLimits{MaxRecordAllowedIPs: 10}).CheckRecord(&many); Refusal(err) != RefusedTooManyPrefixes {
		t.Fatalf("CheckRecord = %v", err)
	}
	many.AllowedIPs = make([]netip.Prefix, MaxRecordAllowedIPs+1)
	if err := many.Check(); Refusal(err) != RefusedTooManyPrefixes {
		t.Fatalf("Check of a record with %d prefixes = %v", len(many.AllowedIPs), err)
	}
}

// A snapshot sent whole past the connection's receive limit (the daemon
// sets it to MaxSnapshotBytes) is refused as too large, while the same
// snapshot in chunks goes through.
func TestSnapshotPastReceiveLimit(t *testing.T) {
	recs := fleetRecords(3000) // about 200 KiB
	limit := grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 10))
	conn := serveDiscovery(t, &oldPlugin{msgs: []*discoveryv1.WatchResponse{snapMsg(false, recs...)}, hold: true}, nil, limit)
	sink := &snapSink{snaps: make(chan []Record, 1)}
	done, _ := watch(t, NewDiscoveryClient(conn), sink)
	select {
	case err := <-done:
		if Refusal(err) != RefusedSnapshotBytes {
			t.Fatalf("watch ended with %v, want reason %q", err, RefusedSnapshotBytes)
		}
	case <-sink.snaps:
		t.Fatal("a message past the receive limit was taken")
	case <-time.After(time.Minute):
		t.Fatal("the watch did not end")
	}
	var msgs []*discoveryv1.WatchResponse
	if err := snapshotChunks(recs, 32<<10, func(s *discoveryv1.Snapshot) error {
		msgs = append(msgs, &discoveryv1.WatchResponse{Event: &discoveryv1.WatchResponse_Snapshot{Snapshot: s}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	conn = serveDiscovery(t, &oldPlugin{msgs: msgs, hold: true}, nil, limit)
	sink = &snapSink{snaps: make(chan []Record, 1)}
	done, _ = watch(t, NewDiscoveryClient(conn), sink)
	if got := waitSnap(t, sink, done); len(got) != len(recs) {
		t.Fatalf("%d records in chunks, want %d", len(got), len(recs))
	}
}

// Chunks made by snapshotChunks stay under the chunk size (a record alone
// may pass it) and assemble into the records they came from.
func TestSnapshotChunksRoundTrip(t *testing.T) {
	recs := fleetRecords(5000)
	a := snapshotAssembler{lim: WatchLimits{}.WithDefaults(), report: func(err error) { t.Fatal(err) }}
	var got []Record
	chunks := 0
	err := snapshotChunks(recs, 16<<10, func(s *discoveryv1.Snapshot) error {
		chunks++
		if n := proto.Size(s); n > 16<<10 && len(s.Records) > 1 {
			t.Fatalf("chunk of %d bytes", n)
		}
		r, done, err := a.add(s, proto.Size(s))
		if done {
			got = r
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if chunks < 10 || len(got) != len(recs) {
		t.Fatalf("%d chunks gave %d records", chunks, len(got))
	}
	for i := range recs {
		if !got[i].Equal(&recs[i]) {
			t.Fatalf("record %d changed", i)
		}
	}
	if err := snapshotChunks(nil, 1<<20, func(s *discoveryv1.Snapshot) error {
		if s.More || len(s.Records) != 0 {
			t.Fatal("an empty snapshot is not one empty message")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// chunkStream encodes snapshot messages as the fuzz target reads them:
// each a varint length and a WatchResponse.
func chunkStream(msgs ...*discoveryv1.WatchResponse) []byte {
	var b []byte
	for _, m := range msgs {
		raw, _ := proto.Marshal(m)
		b = protowire.AppendVarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	return b
}

// FuzzSnapshotChunks feeds any sequence of messages to the chunk
// assembler with small limits: it never panics, never hands out more
// than the limits allow, and hands out only records that pass the
// checks.
func FuzzSnapshotChunks(f *testing.F) {
	recs := fleetRecords(6)
	f.Add(chunkStream(snapMsg(false, recs...)))
	f.Add(chunkStream(snapMsg(true, recs[:2]...), snapMsg(true), snapMsg(false, recs[2:]...)))
	f.Add(chunkStream(snapMsg(true, recs...), snapMsg(true, recs...), snapMsg(false, recs...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := WatchLimits{MaxSnapshotRecords: 8, MaxSnapshotPrefixes: 12, MaxSnapshotBytes: 4096, MaxRecordAllowedIPs: 4}.WithDefaults()
		a := snapshotAssembler{lim: lim, report: func(err error) {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("report of an error not wrapping ErrBadRecord: %v", err)
			}
		}}
		for len(data) > 0 {
			n, l := protowire.ConsumeVarint(data)
			if l < 0 || uint64(len(data)-l) < n {
				return
			}
			raw := data[l : l+int(n)]
			data = data[l+int(n):]
			var m discoveryv1.WatchResponse
			if proto.Unmarshal(raw, &m) != nil || m.GetSnapshot() == nil {
				continue
			}
			got, done, err := a.add(m.GetSnapshot(), len(raw))
			if err != nil {
				if Refusal(err) == "" || !errors.Is(err, ErrBadRecord) {
					t.Fatalf("refusal without a reason: %v", err)
				}
				continue
			}
			if !done {
				continue
			}
			prefixes := 0
			for i := range got {
				if err := got[i].Check(); err != nil {
					t.Fatalf("assembled a bad record: %v", err)
				}
				if err := lim.CheckRecord(&got[i]); err != nil {
					t.Fatalf("assembled a record past the limits: %v", err)
				}
				prefixes += len(got[i].AllowedIPs)
			}
			if len(got) > lim.MaxSnapshotRecords || prefixes > lim.MaxSnapshotPrefixes {
				t.Fatalf("assembled %d records, %d prefixes past the limits", len(got), prefixes)
			}
		}
	})
}

// BenchmarkSnapshotStream is one snapshot of 100,000 records from a plugin
// built with the SDK to the daemon's client, over a Unix socket; the heap
// in use after it (with the records held) is reported too.
func BenchmarkSnapshotStream(b *testing.B) {
	const n = 100_000
	recs := fleetRecords(n)
	conn := serveDiscovery(b, &discoveryServer{impl: snapshotOnce{recs}}, nil)
	c := NewDiscoveryClient(conn)
	var heap uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sink := &snapSink{snaps: make(chan []Record, 1)}
		done, cancel := watch(b, c, sink)
		got := waitSnap(b, sink, done)
		b.StopTimer()
		if len(got) != n {
			b.Fatalf("%d records", len(got))
		}
		cancel()
		<-done
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapInuse
		runtime.KeepAlive(got)
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}
