// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/metrics"
)

// Prometheus metrics of the daemon. The tunnel's collector is always
// registered (so that anything else serving metricsRegistry sees it);
// /metrics and /healthz are served only when --metrics-listen is given.
var (
	metricsListen = registerDaemonFlag("metrics-listen", "WGPLEX_METRICS_LISTEN",
		"serve /metrics and /healthz on this address, e.g. 127.0.0.1:9586 (a bare port means 127.0.0.1); off by default")
	metricsCompat = registerDaemonFlag("metrics-compat", "WGPLEX_METRICS_COMPAT",
		"also publish another exporter's series: mindflavor (prometheus_wireguard_exporter names)")
	metricsNames = registerDaemonFlag("metrics-names-file", "WGPLEX_METRICS_NAMES_FILE",
		"wg/wg-quick config file whose [Peer] comments \"# Name = ...\" or \"# friendly_name = ...\" name the peers in metrics")
	metricsMaxPeers = registerDaemonFlag("metrics-max-peers", "WGPLEX_METRICS_MAX_PEERS",
		fmt.Sprintf("publish per-peer series for at most this many peers (default %d; aggregates stay exact)", metrics.DefaultMaxPeers))
)

// metricsOffloads reports which offloads the device and transport have on;
// the daemon sets it from its TUN device and UDP bind before the starters
// run.
var metricsOffloads func() map[string]bool

func init() {
	registerDaemonStarter("metrics", startMetrics)
}

// metricsOptions turns the flags into collector options.
func metricsOptions(ifname string) (metrics.Options, error) {
	o := metrics.Options{Interface: ifname, NamesFile: *metricsNames, Offloads: metricsOffloads}
	switch strings.ToLower(*metricsCompat) {
	case "":
	case "mindflavor":
		o.MindFlavor = true
	default:
		return o, fmt.Errorf("--metrics-compat: unknown value %q (known: mindflavor)", *metricsCompat)
	}
	if s := *metricsMaxPeers; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return o, fmt.Errorf("--metrics-max-peers: %q is not a number of peers", s)
		}
		// 0 is a real choice on the command line: no per-peer series.
		if n == 0 {
			n = -1
		}
		o.MaxPeers = n
	}
	return o, nil
}

// metricsAddr accepts host:port, or a bare port meaning loopback.
func metricsAddr(s string) string {
	if _, err := strconv.ParseUint(s, 10, 16); err == nil {
		return net.JoinHostPort("127.0.0.1", s)
	}
	return s
}

func startMetrics(env *daemonEnv) (func(), error) {
	o, err := metricsOptions(env.Ifname)
	if err != nil {
		return nil, err
	}
	o.Logger = env.Log
	if err := addMetricsCollector(metrics.New(env.Tunnel, o)); err != nil {
		return nil, err
	}
	for _, c := range metrics.RuntimeCollectors() {
		if err := addMetricsCollector(c); err != nil {
			return nil, err
		}
	}
	if *metricsListen == "" {
		return nil, nil
	}
	addr := metricsAddr(*metricsListen)
	srv, err := metrics.Serve(addr, metrics.Handler(metricsRegistry, metrics.OpenWhile(env.Tunnel.Closed())), env.Log)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	env.Log.Info("Serving metrics", "addr", srv.Addr().String())
	return func() { srv.Close() }, nil
}
