// SPDX-License-Identifier: MIT

package sdk

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/wgplex/wgplex/plugins/proto/discovery/v1"
)

func testRecord(first byte) Record {
	var k Key
	k[0], k[31] = first, 1
	return Record{
		PublicKey:           k,
		Name:                "node",
		Endpoints:           []string{"192.0.2.1:51820", "[2001:db8::1]:51820", "host.example:1"},
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("fd00::1/128")},
		PersistentKeepalive: 25,
		PSKRef:              "fleet-a",
		Signed:              []byte("WGFR\x01opaque to the SDK"),
	}
}

func TestRecordCheck(t *testing.T) {
	good := testRecord(1)
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(r *Record){
		"zero key":      func(r *Record) { r.PublicKey = Key{} },
		"no port":       func(r *Record) { r.Endpoints = []string{"192.0.2.1"} },
		"port 0":        func(r *Record) { r.Endpoints = []string{"192.0.2.1:0"} },
		"bad host":      func(r *Record) { r.Endpoints = []string{"a b:1"} },
		"psk path":      func(r *Record) { r.PSKRef = "../etc/shadow" },
		"psk dotfile":   func(r *Record) { r.PSKRef = ".hidden" },
		"invalid pfx":   func(r *Record) { r.AllowedIPs = []netip.Prefix{{}} },
		"many eps":      func(r *Record) { r.Endpoints = make([]string, MaxRecordEndpoints+1) },
		"bad utf8 name": func(r *Record) { r.Name = "\xff" },
		"huge signed":   func(r *Record) { r.Signed = make([]byte, MaxRecordSigned+1) },
	} {
		r := good.Clone()
		mutate(&r)
		if err := r.Check(); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: Check = %v, want ErrBadRecord", name, err)
		}
	}
}

func TestRecordProtoRoundTrip(t *testing.T) {
	r := testRecord(7)
	back, err := RecordFromProto(RecordToProto(&r))
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(&r) {
		t.Fatalf("round trip: %+v != %+v", back, r)
	}
	pr := RecordToProto(&r)
	pr.PersistentKeepalive = 70000
	if _, err := RecordFromProto(pr); !errors.Is(err, ErrBadRecord) {
		t.Errorf("keepalive 70000: %v", err)
	}
	pr = RecordToProto(&r)
	pr.PublicKey = pr.PublicKey[:31]
	if _, err := RecordFromProto(pr); !errors.Is(err, ErrBadRecord) {
		t.Errorf("short key: %v", err)
	}
}

// FuzzRecordFromProto decodes arbitrary wire bytes as a record: no panic,
// and whatever is accepted encodes and decodes to the same record.
func FuzzRecordFromProto(f *testing.F) {
	r := testRecord(3)
	seed, _ := proto.Marshal(RecordToProto(&r))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		var pr discoveryv1.Record
		if proto.Unmarshal(data, &pr) != nil {
			return
		}
		r, err := RecordFromProto(&pr)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error not wrapping ErrBadRecord: %v", err)
			}
			return
		}
		again, err := RecordFromProto(RecordToProto(&r))
		if err != nil {
			t.Fatalf("re-decoding an accepted record: %v", err)
		}
		if !again.Equal(&r) {
			t.Fatalf("round trip changed the record: %+v != %+v", again, r)
		}
	})
}

// recordingSink collects what a RecordSet watch sends.
type recordingSink struct{ events chan string }

func (s *recordingSink) Snapshot(recs []Record) error {
	s.events <- "snapshot:" + string(rune('0'+len(recs)))
	return nil
}
func (s *recordingSink) Upsert(r Record) error { s.events <- "upsert:" + r.Name; return nil }
func (s *recordingSink) Remove(Key) error      { s.events <- "remove"; return nil }

func next(t *testing.T, s *recordingSink) string {
	t.Helper()
	select {
	case e := <-s.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return ""
	}
}

func TestRecordSetWatch(t *testing.T) {
	var set RecordSet
	sink := &recordingSink{events: make(chan string, 64)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- set.Watch(ctx, sink) }()

	a, b := testRecord(1), testRecord(2)
	a.Name, b.Name = "a", "b"
	set.Put(a) // before the first Replace: waits for the snapshot
	set.Replace([]Record{a, b})
	if e := next(t, sink); e != "snapshot:2" {
		t.Fatalf("first event %q", e)
	}
	if set.Put(a) {
		t.Error("an unchanged Put reported a change")
	}
	a.Name = "a2"
	set.Put(a)
	if e := next(t, sink); e != "upsert:a2" {
		t.Fatalf("event %q", e)
	}
	set.Delete(b.PublicKey)
	if e := next(t, sink); e != "remove" {
		t.Fatalf("event %q", e)
	}
	set.Replace([]Record{a})
	if e := next(t, sink); e != "snapshot:1" {
		t.Fatalf("event %q after Replace", e)
	}
	select {
	case e := <-sink.events:
		t.Fatalf("unexpected event %q", e)
	default:
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v", err)
	}
}
