// SPDX-License-Identifier: MIT

package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

// setFlag sets a daemon flag for one test.
func setFlag(t *testing.T, p *string, v string) {
	t.Helper()
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}

func testTunnel(t *testing.T) *core.Tunnel {
	t.Helper()
	nw := coretest.NewMemNetwork()
	tun, err := core.NewTunnel(core.Options{Device: coretest.NewMemDevice("wgt", 1420),
		Bind: nw.NewBind(netip.MustParseAddr("192.0.2.1"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tun.Close() })
	return tun
}

func TestMetricsStarterServesOnlyWhenAsked(t *testing.T) {
	tun := testTunnel(t)
	env := &daemonEnv{Ifname: "wgt", Tunnel: tun, Log: slog.New(slog.DiscardHandler)}

	setFlag(t, metricsListen, "")
	setFlag(t, metricsCompat, "mindflavor")
	stop, err := startMetrics(env)
	if err != nil || stop != nil {
		t.Fatalf("without --metrics-listen: stop=%v err=%v, want nothing served", stop != nil, err)
	}
	// The collectors are registered all the same, for whatever else
	// serves the daemon's registry.
	mfs, err := metricsRegistry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"wireguard_device_info", "wgplex_dropped_packets_total", "go_goroutines", "process_start_time_seconds"} {
		if !have[name] {
			t.Errorf("%s not registered", name)
		}
	}
}

func TestMetricsStarterHTTP(t *testing.T) {
	tun := testTunnel(t)
	var logs strings.Builder
	// Another name than the other test's: both register in the daemon's
	// one registry, which holds one collector per interface.
	env := &daemonEnv{Ifname: "wgt2", Tunnel: tun, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	setFlag(t, metricsListen, "127.0.0.1:0")
	stop, err := startMetrics(env)
	if err != nil {
		t.Fatal(err)
	}
	_, addr, _ := strings.Cut(logs.String(), "addr=")
	addr = strings.TrimSpace(addr)
	for _, path := range []string{"/metrics", "/healthz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		if path == "/metrics" && !strings.Contains(string(body), `wireguard_device_info{device="wgt2"`) {
			t.Errorf("/metrics lacks the tunnel's series")
		}
	}
	stop()
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("still serving after stop")
	}
}

func TestMetricsFlags(t *testing.T) {
	for _, tc := range []struct {
		compat, max string
		ok          bool
		maxPeers    int
	}{
		{"", "", true, 0},
		{"MindFlavor", "5", true, 5},
		{"", "0", true, -1},
		{"mdlayher2", "", false, 0},
		{"", "-3", false, 0},
		{"", "lots", false, 0},
	} {
		setFlag(t, metricsCompat, tc.compat)
		setFlag(t, metricsMaxPeers, tc.max)
		o, err := metricsOptions("wg0")
		if (err == nil) != tc.ok {
			t.Errorf("compat=%q max=%q: err=%v", tc.compat, tc.max, err)
			continue
		}
		if tc.ok && o.MaxPeers != tc.maxPeers {
			t.Errorf("max=%q: MaxPeers=%d, want %d", tc.max, o.MaxPeers, tc.maxPeers)
		}
	}
	if got := metricsAddr("9586"); got != "127.0.0.1:9586" {
		t.Errorf("bare port -> %q", got)
	}
	if got := metricsAddr("[::1]:9586"); got != "[::1]:9586" {
		t.Errorf("host:port changed to %q", got)
	}
	if findDaemonFlag("metrics-listen") == nil || findDaemonFlag("metrics-listen").env != "WGPLEX_METRICS_LISTEN" {
		t.Error("--metrics-listen not registered with WGPLEX_METRICS_LISTEN")
	}
}
