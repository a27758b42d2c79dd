// SPDX-License-Identifier: MIT

package sdk

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	discoveryv1 "github.com/wgplex/wgplex/plugins/proto/discovery/v1"
)

// snapshotAssembler collects the chunks of one snapshot on the daemon's
// side and enforces the snapshot limits as the chunks come, so that a
// plugin cannot make the daemon hold more than the limits allow before
// it is refused. Records that fail the checks are reported and skipped,
// as in a snapshot sent whole.
type snapshotAssembler struct {
	lim      WatchLimits // with defaults
	report   func(error)
	open     bool // chunks with more came; the last one has not
	recs     []Record
	received int // records received, skipped ones included
	prefixes int
	bytes    int
}

// add takes one Snapshot message of size bytes on the wire. It returns
// the whole snapshot and true once the last chunk came; an error is a
// refusal (a LimitError) after which the snapshot is dropped.
func (a *snapshotAssembler) add(s *discoveryv1.Snapshot, size int) ([]Record, bool, error) {
	if !a.open {
		a.recs, a.received, a.prefixes, a.bytes = nil, 0, 0, 0
	}
	a.open = true
	a.bytes += size
	if a.bytes > a.lim.MaxSnapshotBytes {
		return nil, false, a.fail(RefusedSnapshotBytes, fmt.Sprintf("snapshot of more than %d bytes", a.lim.MaxSnapshotBytes))
	}
	a.received += len(s.GetRecords())
	if a.received > a.lim.MaxSnapshotRecords {
		return nil, false, a.fail(RefusedSnapshotRecords, fmt.Sprintf("snapshot of more than %d records", a.lim.MaxSnapshotRecords))
	}
	for _, pr := range s.GetRecords() {
		r, err := RecordFromProto(pr)
		if err == nil {
			err = a.lim.CheckRecord(&r)
		}
		if err != nil {
			a.report(err)
			continue
		}
		a.prefixes += len(r.AllowedIPs)
		if a.prefixes > a.lim.MaxSnapshotPrefixes {
			return nil, false, a.fail(RefusedSnapshotPrefixes, fmt.Sprintf("snapshot of more than %d allowed IPs", a.lim.MaxSnapshotPrefixes))
		}
		a.recs = append(a.recs, r)
	}
	if s.GetMore() {
		return nil, false, nil
	}
	recs := a.recs
	a.open, a.recs = false, nil
	if recs == nil {
		recs = []Record{}
	}
	return recs, true, nil
}

// fail drops the snapshot being collected.
func (a *snapshotAssembler) fail(reason, msg string) error {
	a.open, a.recs = false, nil
	return &LimitError{Reason: reason, Msg: msg}
}

// snapshotChunks splits records, already checked, into Snapshot messages
// of at most about SnapshotChunkBytes each, every one but the last with
// more set. It calls send for each chunk as it is made, so that only one
// chunk's wire form exists at a time. An empty snapshot is one empty
// message.
func snapshotChunks(records []Record, chunkBytes int, send func(*discoveryv1.Snapshot) error) error {
	snap := &discoveryv1.Snapshot{}
	size := 0
	for i := range records {
		pr := RecordToProto(&records[i])
		// The record's own size plus its field tag and length prefix.
		n := proto.Size(pr) + 1 + sizeVarint(uint64(proto.Size(pr)))
		if len(snap.Records) > 0 && size+n > chunkBytes {
			snap.More = true
			if err := send(snap); err != nil {
				return err
			}
			snap, size = &discoveryv1.Snapshot{}, 0
		}
		snap.Records = append(snap.Records, pr)
		size += n
	}
	return send(snap)
}

// sizeVarint is the length of v as a protobuf varint.
func sizeVarint(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
