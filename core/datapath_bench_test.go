// SPDX-License-Identifier: MIT

package core_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/aead"
)

// BenchmarkDataPath sends IPv4 packets of 64 and 1420 bytes from one
// tunnel to the other over the in-memory network, 32 at a time, with each
// AEAD implementation and each crypto mode, and 64-byte packets one at a
// time. Per packet it reports wall
// time and CPU time (user plus system, every goroutine of both ends and
// of the in-memory device and network); the in-memory ports copy each
// packet twice, which a TUN device and a socket would too. The
// difference between the AEAD implementations at one size is what the
// AEAD costs of the whole data path.
func BenchmarkDataPath(b *testing.B) {
	for _, crypto := range []string{"inline", "parallel"} {
		for _, impl := range []string{"generic", "avx512"} {
			for _, size := range []int{64, 1420} {
				b.Run(crypto+"/"+impl+"/"+strconv.Itoa(size), func(b *testing.B) {
					benchDataPath(b, crypto, impl, size, 32)
				})
			}
		}
		// One packet at a time, as a ping or a lone TCP ACK: every batch
		// is a single packet, what a hand-off costs shows.
		b.Run(crypto+"/generic/64/single", func(b *testing.B) {
			benchDataPath(b, crypto, "generic", 64, 1)
		})
	}
}

func benchDataPath(b *testing.B, crypto, impl string, size, batch int) {
	// NewNode takes both modes from the environment, as the daemon does.
	b.Setenv("WGPLEX_CRYPTO", crypto)
	b.Setenv("WGPLEX_AEAD", impl)
	m, err := aead.ParseMode(impl)
	if err != nil {
		b.Fatal(err)
	}
	aead.SetMode(m)
	if (impl == "avx512") != aead.Accelerated() {
		b.Skip("AVX-512 AEAD not available on this CPU or build")
	}
	a, bn, _ := pair(b, core.SystemClock{}, false)
	send(b, a, bn, "handshake")
	pkt := ipPacket(a.Inner, bn.Inner, make([]byte, size-20))
	b.SetBytes(int64(size))
	timeout := time.NewTimer(time.Hour)
	defer timeout.Stop()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(batch, b.N-sent)
		for i := 0; i < k; i++ {
			if !a.Dev.Inject(pkt) {
				b.Fatal("inject failed")
			}
		}
		timeout.Reset(10 * time.Second)
		for i := 0; i < k; i++ {
			select {
			case <-bn.Dev.Outbound():
			case <-timeout.C:
				b.Fatalf("%d of %d packets arrived", i, k)
			}
		}
		sent += k
	}
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/pkt")
}
