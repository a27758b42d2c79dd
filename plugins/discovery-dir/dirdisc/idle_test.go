// SPDX-License-Identifier: MIT

package dirdisc

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// benchRecord is made-up peer i.
func benchRecord(i int) sdk.Record {
	var r sdk.Record
	r.PublicKey[0], r.PublicKey[1], r.PublicKey[2] = byte(i>>16), byte(i>>8), byte(i)
	r.PublicKey[31] = 1
	r.AllowedIPs = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)}
	r.Endpoints = []string{fmt.Sprintf("198.18.%d.%d:51820", byte(i>>8), byte(i))}
	return r
}

// writeAged writes r into dir under its canonical name, dated at.
func writeAged(tb testing.TB, dir string, r sdk.Record, at time.Time) string {
	tb.Helper()
	data, err := FormatRecordFile(&r)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, SelfFileName(r.PublicKey))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Chtimes(p, at, at); err != nil {
		tb.Fatal(err)
	}
	return p
}

// fillDir writes n peer files into dir, the files and the directory old
// enough that a scan trusts their stat.
func fillDir(tb testing.TB, dir string, n int) {
	tb.Helper()
	old := time.Now().Add(-time.Minute)
	for i := range n {
		writeAged(tb, dir, benchRecord(i), old)
	}
	if err := os.Chtimes(dir, old, old); err != nil {
		tb.Fatal(err)
	}
}

// TestWatcherIdleLook: while the directory's time says nothing was
// added, removed or renamed, a look reads nothing, so a file edited in
// place waits for the next full scan (FullScanInterval); a file added or
// removed is seen at the next look.
func TestWatcherIdleLook(t *testing.T) {
	dir := t.TempDir()
	fillDir(t, dir, 3)
	w := New(dir, time.Hour, nil)
	w.Scan()
	if n := w.set.Len(); n != 3 {
		t.Fatalf("first scan: %d records", n)
	}

	// Edited in place: the directory keeps its time.
	edited := benchRecord(1)
	edited.Endpoints = []string{"198.51.100.1:1"}
	dirInfo, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	writeAged(t, dir, edited, time.Now().Add(-30*time.Second))
	if err := os.Chtimes(dir, dirInfo.ModTime(), dirInfo.ModTime()); err != nil {
		t.Fatal(err)
	}
	w.Scan()
	if r, _ := w.set.Get(edited.PublicKey); r.Endpoints[0] == edited.Endpoints[0] {
		t.Fatal("a look with the directory unchanged read the files")
	}
	w.mu.Lock()
	w.lastFull = time.Now().Add(-w.fullEvery - time.Second)
	w.mu.Unlock()
	w.Scan()
	if r, _ := w.set.Get(edited.PublicKey); r.Endpoints[0] != edited.Endpoints[0] {
		t.Fatalf("the full scan missed the edit: %+v", r)
	}

	// Added (renamed into place, as the plugin writes) and removed: the
	// directory's time moves, the next look is a full scan.
	added := benchRecord(7)
	data, err := FormatRecordFile(&added)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, SelfFileName(added.PublicKey))); err != nil {
		t.Fatal(err)
	}
	w.Scan()
	if _, ok := w.set.Get(added.PublicKey); !ok {
		t.Fatal("a file renamed into place not seen at the next look")
	}
	gone := benchRecord(2)
	if err := os.Remove(filepath.Join(dir, SelfFileName(gone.PublicKey))); err != nil {
		t.Fatal(err)
	}
	w.Scan()
	if _, ok := w.set.Get(gone.PublicKey); ok {
		t.Fatal("a removed file still a record after the next look")
	}
}

// BenchmarkScanIdle is one look at a directory of 5,000 peer files in
// which nothing changed since the last: what an idle node pays twice a
// second. BenchmarkScanFull is a full scan of it, unchanged, which it
// pays every FullScanInterval.
func BenchmarkScanIdle(b *testing.B) { benchScan(b, false) }

func BenchmarkScanFull(b *testing.B) { benchScan(b, true) }

func benchScan(b *testing.B, full bool) {
	dir := b.TempDir()
	fillDir(b, dir, 5000)
	w := New(dir, time.Hour, nil)
	w.Scan()
	if n := w.set.Len(); n != 5000 {
		b.Fatalf("%d records", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if full {
			w.lastFull = time.Time{}
		}
		w.Scan()
	}
}
