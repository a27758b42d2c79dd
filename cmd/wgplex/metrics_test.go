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

// declared is p with its options declared in a flag set of its own, for
// a test to set.
func declared[P part](p P) (P, *daemonFlagSet) {
	fs := &daemonFlagSet{}
	p.Flags(fs)
	return p, fs
}

// mustSet sets a daemon option.
func mustSet(t *testing.T, fs *daemonFlagSet, name, value string) {
	t.Helper()
	if err := fs.set(name, value); err != nil {
		t.Fatal(err)
	}
}

// testEnv is a daemon environment around tun with nothing started.
func testEnv(ifname string, tun *core.Tunnel, log *slog.Logger) *daemonEnv {
	env := newDaemonEnv(ifname, log, newPluginHost(), platform{})
	env.Tunnel = tun
	return env
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
	env := testEnv("wgt", tun, slog.New(slog.DiscardHandler))

	p, fs := declared(&metricsPart{})
	mustSet(t, fs, "metrics-compat", "mindflavor")
	stop, err := p.Start(env)
	if err != nil || stop != nil {
		t.Fatalf("without --metrics-listen: stop=%v err=%v, want nothing served", stop != nil, err)
	}
	// The collectors are registered all the same, for whatever else
	// serves the daemon's registry.
	mfs, err := env.Registry.Gather()
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
	env := testEnv("wgt2", tun, slog.New(slog.NewTextHandler(&logs, nil)))
	p, fs := declared(&metricsPart{})
	mustSet(t, fs, "metrics-listen", "127.0.0.1:0")
	stop, err := p.Start(env)
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
		p, fs := declared(&metricsPart{})
		mustSet(t, fs, "metrics-compat", tc.compat)
		mustSet(t, fs, "metrics-max-peers", tc.max)
		o, err := p.options(&daemonEnv{Ifname: "wg0"})
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
	if f := newDaemon(nil).flags.lookup("metrics-listen"); f == nil || f.env != "WGPLEX_METRICS_LISTEN" {
		t.Error("--metrics-listen not registered with WGPLEX_METRICS_LISTEN")
	}
}
