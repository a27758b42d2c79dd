// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/metrics"
)

// metricsPart is the daemon's Prometheus metrics. The tunnel's collector
// is always registered (so that anything else serving the daemon's
// registry sees it); /metrics and /healthz are served only when
// --metrics-listen is given. It starts last, over the tunnel and the
// offloads the interface reports and the collectors the plugins added.
type metricsPart struct {
	listen, compat, names, maxPeers *string
}

func (*metricsPart) Name() string { return "metrics" }

func (p *metricsPart) Flags(fs *daemonFlagSet) {
	p.listen = fs.String("metrics-listen", "WGPLEX_METRICS_LISTEN",
		"serve /metrics and /healthz on this address, e.g. 127.0.0.1:9586 (a bare port means 127.0.0.1); off by default")
	p.compat = fs.String("metrics-compat", "WGPLEX_METRICS_COMPAT",
		"also publish another exporter's series: mindflavor (prometheus_wireguard_exporter names)")
	p.names = fs.String("metrics-names-file", "WGPLEX_METRICS_NAMES_FILE",
		"wg/wg-quick config file whose [Peer] comments \"# Name = ...\" or \"# friendly_name = ...\" name the peers in metrics")
	p.maxPeers = fs.String("metrics-max-peers", "WGPLEX_METRICS_MAX_PEERS",
		fmt.Sprintf("publish per-peer series for at most this many peers (default %d; aggregates stay exact)", metrics.DefaultMaxPeers))
}

// options turns the flags into collector options.
func (p *metricsPart) options(env *daemonEnv) (metrics.Options, error) {
	o := metrics.Options{Interface: env.Ifname, NamesFile: *p.names, Offloads: env.Offloads}
	switch strings.ToLower(*p.compat) {
	case "":
	case "mindflavor":
		o.MindFlavor = true
	default:
		return o, fmt.Errorf("--metrics-compat: unknown value %q (known: mindflavor)", *p.compat)
	}
	if s := *p.maxPeers; s != "" {
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

func (p *metricsPart) Start(env *daemonEnv) (func(), error) {
	if p.listen == nil {
		return nil, nil // options never declared
	}
	if env.Tunnel == nil {
		return nil, errors.New("no tunnel: metrics must start after the interface")
	}
	o, err := p.options(env)
	if err != nil {
		return nil, err
	}
	o.Logger = env.Log
	if err := env.addCollector(metrics.New(env.Tunnel, o)); err != nil {
		return nil, err
	}
	for _, c := range metrics.RuntimeCollectors() {
		if err := env.addCollector(c); err != nil {
			return nil, err
		}
	}
	if *p.listen == "" {
		return nil, nil
	}
	addr := metricsAddr(*p.listen)
	srv, err := metrics.Serve(addr, daemonProcs.handler(metrics.Handler(env.Registry, metrics.OpenWhile(env.Tunnel.Closed()))), env.Log)
	if err != nil {
		return nil, fmt.Errorf("--metrics-listen: %w", err)
	}
	env.Log.Info("Serving metrics", "addr", srv.Addr().String())
	return func() { srv.Close() }, nil
}
