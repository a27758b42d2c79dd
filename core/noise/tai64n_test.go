// SPDX-License-Identifier: MIT

package noise

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestTimestampEncoding(t *testing.T) {
	ts := TimestampFromTime(time.Unix(0, 0))
	if binary.BigEndian.Uint64(ts[:8]) != 0x400000000000000a || binary.BigEndian.Uint32(ts[8:]) != 0 {
		t.Fatalf("epoch label %x", ts)
	}
	ts = TimestampFromTime(time.Unix(1, 999_999_999))
	if ns := binary.BigEndian.Uint32(ts[8:]); ns%timestampGranularity != 0 || ns > 999_999_999 {
		t.Fatalf("nanoseconds not rounded down: %d", ns)
	}
}

func TestTimestampMonotonic(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := TimestampFromTime(base)
	for i := 1; i < 3000; i++ {
		now := TimestampFromTime(base.Add(time.Duration(i) * 7 * time.Millisecond))
		if prev.After(now) {
			t.Fatalf("step %d went backwards", i)
		}
		prev = now
	}
	a := TimestampFromTime(base)
	b := TimestampFromTime(base.Add(timestampGranularity))
	if !b.After(a) || a.After(b) {
		t.Fatal("later label not After")
	}
	if a.After(a) {
		t.Fatal("After is not strict")
	}
	// Within one granularity step the labels are equal, so a second
	// initiation in the same ~16 ms window is a replay to the responder.
	if c := TimestampFromTime(base.Add(time.Millisecond)); c.After(a) || c != a {
		t.Fatal("sub-granularity difference visible")
	}
	if !(Timestamp{}).IsZero() || a.IsZero() {
		t.Fatal("IsZero")
	}
	// Seconds dominate nanoseconds.
	x := TimestampFromTime(time.Unix(100, 900_000_000))
	y := TimestampFromTime(time.Unix(101, 0))
	if !y.After(x) {
		t.Fatal("second boundary")
	}
}
