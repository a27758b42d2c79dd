// SPDX-License-Identifier: MIT

package plugins

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of the plugin host, shared by every
// plugin the daemon runs. Labels are bounded: one value of "plugin" per
// configured plugin, a fixed set of kinds and methods.
type Metrics struct {
	up           *prometheus.GaugeVec
	restarts     *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	calls        *prometheus.CounterVec
}

var _ prometheus.Collector = (*Metrics)(nil)

// NewMetrics creates the plugin series; register the result with a
// Prometheus registry.
func NewMetrics() *Metrics {
	return &Metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wgplex_plugin_up",
			Help: "1 while the plugin process runs and answers health checks, 0 while it is down or restarting.",
		}, []string{"plugin", "kind"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wgplex_plugin_restarts_total",
			Help: "Times the plugin was launched again after it died or stopped answering.",
		}, []string{"plugin", "kind"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wgplex_plugin_call_duration_seconds",
			Help: "Duration of calls from the daemon to a plugin, including the gRPC round trip; failed and timed-out calls included.",
			// From a local gRPC round trip (~100 µs) to a slow hardware
			// token and the default call timeout.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"plugin", "method"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wgplex_plugin_calls_total",
			Help: "Calls from the daemon to a plugin by the gRPC status code they ended with (OK, DeadlineExceeded, Unavailable while the plugin is down, ...).",
		}, []string{"plugin", "method", "code"}),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.up.Describe(ch)
	m.restarts.Describe(ch)
	m.callDuration.Describe(ch)
	m.calls.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.up.Collect(ch)
	m.restarts.Collect(ch)
	m.callDuration.Collect(ch)
	m.calls.Collect(ch)
}

// The methods below accept a nil receiver, so that a host without metrics
// needs no checks at every call site.

func (m *Metrics) setUp(plugin, kind string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(plugin, kind).Set(v)
}

func (m *Metrics) restarted(plugin, kind string) {
	if m == nil {
		return
	}
	m.restarts.WithLabelValues(plugin, kind).Inc()
}

// register creates the series of a plugin at zero so that they exist from
// its first start, not from its first restart.
func (m *Metrics) register(plugin, kind string) {
	if m == nil {
		return
	}
	m.restarts.WithLabelValues(plugin, kind)
	m.up.WithLabelValues(plugin, kind)
}

// observe records a call that reached the plugin: its duration and its
// outcome.
func (m *Metrics) observe(plugin, method string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.callDuration.WithLabelValues(plugin, method).Observe(d.Seconds())
	m.calls.WithLabelValues(plugin, method, callCode(err)).Inc()
}

// count records the outcome of a call that never reached the plugin.
func (m *Metrics) count(plugin, method string, err error) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(plugin, method, callCode(err)).Inc()
}
