// SPDX-License-Identifier: MIT

package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/metrics"
)

// BenchmarkScrape1000Peers measures one full /metrics request (collect,
// encode, compress, runtime metrics included) of a tunnel with 1000 peers.
func BenchmarkScrape1000Peers(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts metrics.Options
	}{
		{"default", metrics.Options{Interface: "wg0"}},
		{"mindflavor", metrics.Options{Interface: "wg0", MindFlavor: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			nd := newNode(b, coretest.NewMemNetwork(), coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
			addPeers(b, nd.Tunnel, 1000)
			// The daemon's registry is a plain one (the tests use a
			// pedantic one, which checks more and costs more).
			reg := prometheus.NewRegistry()
			reg.MustRegister(metrics.New(nd.Tunnel, tc.opts))
			reg.MustRegister(metrics.RuntimeCollectors()...)
			h := metrics.Handler(reg, nil)
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			// Prometheus asks for gzip.
			req.Header.Set("Accept-Encoding", "gzip")
			b.ReportAllocs()
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/scrape")
		})
	}
}

// BenchmarkSnapshot1000Peers is the part of a scrape that takes the
// tunnel's locks, for comparison.
func BenchmarkSnapshot1000Peers(b *testing.B) {
	nd := newNode(b, coretest.NewMemNetwork(), coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	addPeers(b, nd.Tunnel, 1000)
	b.ReportAllocs()
	for b.Loop() {
		nd.Tunnel.Snapshot()
	}
}

// BenchmarkTunnelWhileScraped sends packets through two in-memory tunnels,
// alone, while a scraper reads /metrics every second, and every 10 ms (a
// hundred times more often), to show what scraping costs the data path.
func BenchmarkTunnelWhileScraped(b *testing.B) {
	for _, every := range []time.Duration{0, time.Second, 10 * time.Millisecond} {
		scraped := every > 0
		name := "alone"
		if scraped {
			name = "scraped-every-" + every.String()
		}
		b.Run(name, func(b *testing.B) {
			a, z, _ := pair(b, coretest.NewFakeClock(epoch))
			send(b, a, z, "warm up")
			if scraped {
				h := metrics.Handler(registry(b, metrics.New(a.Tunnel, metrics.Options{Interface: "wg0"})), nil)
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					tick := time.NewTicker(every)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
						}
					}
				}()
				defer func() { close(stop); <-done }()
			}
			const burst = 256
			pkt := ipPacket(a.Inner, z.Inner, make([]byte, 1400))
			b.SetBytes(int64(len(pkt)) * burst)
			b.ResetTimer()
			for b.Loop() {
				for range burst {
					for !a.Dev.Inject(pkt) {
						time.Sleep(10 * time.Microsecond)
					}
				}
				for range burst {
					<-z.Dev.Outbound()
				}
			}
		})
	}
}
