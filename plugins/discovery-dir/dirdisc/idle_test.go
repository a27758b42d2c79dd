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

// fillDir writes n peer files into dir, old enough that a scan trusts
// their stat.
func fillDir(tb testing.TB, dir string, n int) {
	tb.Helper()
	old := time.Now().Add(-time.Minute)
	for i := range n {
		var r sdk.Record
		r.PublicKey[0], r.PublicKey[1], r.PublicKey[2] = byte(i>>16), byte(i>>8), byte(i)
		r.PublicKey[31] = 1
		r.AllowedIPs = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)}
		r.Endpoints = []string{fmt.Sprintf("198.18.%d.%d:51820", byte(i>>8), byte(i))}
		data, err := FormatRecordFile(&r)
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(dir, SelfFileName(r.PublicKey))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkScanIdle is one scan of a directory of 5,000 peer files in
// which nothing changed since the last: what an idle node pays twice a
// second.
func BenchmarkScanIdle(b *testing.B) {
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
		w.Scan()
	}
}
