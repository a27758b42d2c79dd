// SPDX-License-Identifier: MIT

package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/wgplex/wgplex/plugins/proto/discovery/v1"
)

// DiscoveryPlugin is the go-plugin glue of the discovery kind. In a
// plugin, Impl is the discovery being served; in the daemon, Impl is unset
// and the dispensed value is a *DiscoveryClient.
type DiscoveryPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the discovery a plugin serves.
	Impl Discovery
}

var _ plugin.GRPCPlugin = (*DiscoveryPlugin)(nil)

// GRPCServer registers the discovery with the plugin's gRPC server.
func (p *DiscoveryPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("sdk: DiscoveryPlugin.Impl is nil")
	}
	discoveryv1.RegisterDiscoveryServer(s, &discoveryServer{impl: p.Impl})
	return nil
}

// GRPCClient returns the daemon's view of the plugin, a *DiscoveryClient.
func (p *DiscoveryPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewDiscoveryClient(c), nil
}

// ServeDiscovery runs impl as a discovery plugin and returns when the
// daemon tells the plugin to stop. As ServeKeyVault, call it from main
// only: it owns stdout.
func ServeDiscovery(impl Discovery) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{KindDiscovery: &DiscoveryPlugin{Impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          Logger(""),
	})
}

// DiscoveryClient is the daemon's side of a discovery plugin. It
// implements Discovery by calling the plugin and checks every record it
// receives: a malformed one never reaches the sink.
type DiscoveryClient struct {
	rpc discoveryv1.DiscoveryClient
}

var _ Discovery = (*DiscoveryClient)(nil)

// NewDiscoveryClient wraps a gRPC connection to a discovery plugin.
func NewDiscoveryClient(c grpc.ClientConnInterface) *DiscoveryClient {
	return &DiscoveryClient{rpc: discoveryv1.NewDiscoveryClient(c)}
}

// Publish sends this node's record to the plugin.
func (c *DiscoveryClient) Publish(ctx context.Context, self Record) error {
	if err := self.Check(); err != nil {
		return err
	}
	_, err := c.rpc.Publish(ctx, &discoveryv1.PublishRequest{Self: RecordToProto(&self)})
	return discoveryError(err)
}

// Watch opens the plugin's stream and feeds it to sink until ctx is done
// or the stream breaks; it never returns nil. Records that fail
// Record.Check are skipped (and reported if sink is an
// InvalidRecordReporter); an error returned by sink ends the watch.
//
// The plugin is told that snapshots may come in chunks; they are
// collected and handed to sink whole, so that nothing of a snapshot is
// applied before its last chunk. The limits (sink's if it is a
// WatchLimiter, the defaults otherwise) are enforced as the chunks come:
// a snapshot past them, or one whose last chunk does not come within
// SnapshotTimeout, ends the watch with a LimitError and sink never sees
// it.
func (c *DiscoveryClient) Watch(ctx context.Context, sink DiscoverySink) error {
	var lim WatchLimits
	if l, ok := sink.(WatchLimiter); ok {
		lim = l.WatchLimits()
	}
	lim = lim.WithDefaults()
	report := func(error) {}
	if r, ok := sink.(InvalidRecordReporter); ok {
		report = r.InvalidRecord
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Watch(ctx, &discoveryv1.WatchRequest{AcceptChunked: true})
	if err != nil {
		return discoveryError(err)
	}
	asm := snapshotAssembler{lim: lim, report: report}
	// A chunked snapshot runs against a clock: when it runs out the
	// stream is cancelled, which ends the Recv below.
	var timer *time.Timer
	var timedOut atomic.Bool
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		msg, err := stream.Recv()
		if timedOut.Load() {
			return &LimitError{Reason: RefusedSnapshotTimeout,
				Msg: fmt.Sprintf("snapshot not finished within %v; abandoned", lim.SnapshotTimeout)}
		}
		if err == io.EOF {
			return errors.New("discovery plugin ended the stream")
		}
		if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max") {
			// gRPC's receive limit (MaxSnapshotBytes on the daemon's
			// connection) refused one message: a snapshot sent whole.
			return &LimitError{Reason: RefusedSnapshotBytes, Msg: "a message past the receive limit: " + st.Message()}
		}
		if err != nil {
			return discoveryError(err)
		}
		if _, snap := msg.GetEvent().(*discoveryv1.WatchResponse_Snapshot); asm.open && !snap {
			return &LimitError{Reason: RefusedProtocol, Msg: "an update came between the chunks of a snapshot"}
		}
		switch ev := msg.GetEvent().(type) {
		case *discoveryv1.WatchResponse_Snapshot:
			if !asm.open && ev.Snapshot.GetMore() {
				timer = time.AfterFunc(lim.SnapshotTimeout, func() {
					timedOut.Store(true)
					cancel()
				})
			}
			recs, done, aerr := asm.add(ev.Snapshot, proto.Size(msg))
			if aerr != nil {
				return aerr
			}
			if !done {
				continue
			}
			if timer != nil && !timer.Stop() {
				// The clock ran out as the last chunk came: the stream
				// is cancelled already.
				return &LimitError{Reason: RefusedSnapshotTimeout,
					Msg: fmt.Sprintf("snapshot not finished within %v; abandoned", lim.SnapshotTimeout)}
			}
			timer = nil
			err = sink.Snapshot(recs)
		case *discoveryv1.WatchResponse_Upsert:
			r, rerr := RecordFromProto(ev.Upsert)
			if rerr == nil {
				rerr = lim.CheckRecord(&r)
			}
			if rerr != nil {
				report(rerr)
				continue
			}
			err = sink.Upsert(r)
		case *discoveryv1.WatchResponse_Remove:
			k, kerr := keyFromWire(ev.Remove.GetPublicKey())
			if kerr != nil {
				report(kerr)
				continue
			}
			err = sink.Remove(k)
		default:
			report(fmt.Errorf("%w: empty or unknown event", ErrBadRecord))
			continue
		}
		if err != nil {
			return err
		}
	}
}

// discoveryServer is the plugin's side.
type discoveryServer struct {
	discoveryv1.UnimplementedDiscoveryServer
	impl Discovery
}

func (s *discoveryServer) Publish(ctx context.Context, req *discoveryv1.PublishRequest) (*discoveryv1.PublishResponse, error) {
	r, err := RecordFromProto(req.GetSelf())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.impl.Publish(ctx, r); err != nil {
		return nil, toStatus(err)
	}
	return &discoveryv1.PublishResponse{}, nil
}

func (s *discoveryServer) Watch(req *discoveryv1.WatchRequest, stream discoveryv1.Discovery_WatchServer) error {
	err := s.impl.Watch(stream.Context(), &streamSink{stream: stream, chunked: req.GetAcceptChunked()})
	if err != nil && stream.Context().Err() == nil {
		return toStatus(err)
	}
	return nil
}

// streamSink is the DiscoverySink a plugin writes to: it checks records
// and serialises sends (a gRPC stream takes one sender at a time).
type streamSink struct {
	mu      sync.Mutex
	stream  discoveryv1.Discovery_WatchServer
	chunked bool // the daemon accepts chunked snapshots
}

func (s *streamSink) send(m *discoveryv1.WatchResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

// Snapshot sends records in chunks of at most about SnapshotChunkBytes
// to a daemon that accepts them, whole to an older one. Every record is
// checked before anything is sent, so that a bad record cannot leave a
// snapshot half sent; the chunks go out under one hold of the lock, so
// that no update comes between them.
func (s *streamSink) Snapshot(records []Record) error {
	for i := range records {
		if err := records[i].Check(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	send := func(snap *discoveryv1.Snapshot) error {
		return s.stream.Send(&discoveryv1.WatchResponse{Event: &discoveryv1.WatchResponse_Snapshot{Snapshot: snap}})
	}
	if !s.chunked {
		snap := &discoveryv1.Snapshot{Records: make([]*discoveryv1.Record, 0, len(records))}
		for i := range records {
			snap.Records = append(snap.Records, RecordToProto(&records[i]))
		}
		return send(snap)
	}
	return snapshotChunks(records, SnapshotChunkBytes, send)
}

func (s *streamSink) Upsert(r Record) error {
	if err := r.Check(); err != nil {
		return err
	}
	return s.send(&discoveryv1.WatchResponse{Event: &discoveryv1.WatchResponse_Upsert{Upsert: RecordToProto(&r)}})
}

func (s *streamSink) Remove(key Key) error {
	if isZero(key) {
		return fmt.Errorf("%w: public key is all zeros", ErrBadRecord)
	}
	return s.send(&discoveryv1.WatchResponse{Event: &discoveryv1.WatchResponse_Remove{Remove: &discoveryv1.Removal{PublicKey: key[:]}}})
}

// RecordToProto converts a record to its wire form.
func RecordToProto(r *Record) *discoveryv1.Record {
	pr := &discoveryv1.Record{
		PublicKey:           r.PublicKey[:],
		Name:                r.Name,
		Endpoints:           r.Endpoints,
		PersistentKeepalive: uint32(r.PersistentKeepalive),
		PskRef:              r.PSKRef,
		Signed:              r.Signed,
	}
	for _, p := range r.AllowedIPs {
		pr.AllowedIps = append(pr.AllowedIps, p.String())
	}
	return pr
}

// RecordFromProto converts a record from its wire form and checks it.
func RecordFromProto(pr *discoveryv1.Record) (Record, error) {
	var r Record
	if pr == nil {
		return r, fmt.Errorf("%w: missing record", ErrBadRecord)
	}
	k, err := keyFromWire(pr.GetPublicKey())
	if err != nil {
		return r, err
	}
	if pr.GetPersistentKeepalive() > 65535 {
		return r, fmt.Errorf("%w: keepalive %d out of range", ErrBadRecord, pr.GetPersistentKeepalive())
	}
	if n := len(pr.GetAllowedIps()); n > MaxRecordAllowedIPs {
		return r, tooManyPrefixes(n, MaxRecordAllowedIPs)
	}
	if n := len(pr.GetEndpoints()); n > MaxRecordEndpoints {
		return r, tooManyEndpoints(n, MaxRecordEndpoints)
	}
	r = Record{
		PublicKey:           k,
		Name:                pr.GetName(),
		Endpoints:           append([]string(nil), pr.GetEndpoints()...),
		PersistentKeepalive: uint16(pr.GetPersistentKeepalive()),
		PSKRef:              pr.GetPskRef(),
	}
	if len(pr.GetSigned()) > 0 {
		r.Signed = bytes.Clone(pr.GetSigned())
	}
	for _, s := range pr.GetAllowedIps() {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Record{}, fmt.Errorf("%w: allowed IP %q: %v", ErrBadRecord, s, err)
		}
		r.AllowedIPs = append(r.AllowedIPs, p)
	}
	if err := r.Check(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func keyFromWire(b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return k, fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadRecord, len(b), KeySize)
	}
	copy(k[:], b)
	if isZero(k) {
		return k, fmt.Errorf("%w: public key is all zeros", ErrBadRecord)
	}
	return k, nil
}

// discoveryError turns a gRPC error into one that wraps ErrBadRecord or a
// context error where the code says so.
func discoveryError(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.InvalidArgument:
		return fmt.Errorf("discovery: %w: %s", ErrBadRecord, st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("discovery: %w: %s", context.DeadlineExceeded, st.Message())
	case codes.Canceled:
		return fmt.Errorf("discovery: %w: %s", context.Canceled, st.Message())
	}
	return fmt.Errorf("discovery: %s: %s", st.Code(), st.Message())
}
