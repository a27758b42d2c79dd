// SPDX-License-Identifier: MIT

package main

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metricsRegistry collects every Prometheus collector of the daemon: the
// tunnel's, the plugin host's, the Go runtime's. Parts of the daemon add
// theirs with addMetricsCollector whether or not /metrics is served, so
// that the order in which they start does not matter.
var (
	metricsMu       sync.Mutex
	metricsRegistry = prometheus.NewRegistry()
)

// addMetricsCollector registers c; a duplicate registration is ignored.
func addMetricsCollector(c prometheus.Collector) error {
	metricsMu.Lock()
	defer metricsMu.Unlock()
	if err := metricsRegistry.Register(c); err != nil {
		if _, dup := err.(prometheus.AlreadyRegisteredError); dup {
			return nil
		}
		return err
	}
	return nil
}
