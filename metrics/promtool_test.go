// SPDX-License-Identifier: MIT

package metrics_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/metrics"
)

// promtool finds promtool (Debian package prometheus). Without it the
// test skips, except in CI, where a missing tool must not pass silently.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (install the Debian package prometheus)")
		}
		t.Skip("promtool not found (install the Debian package prometheus); skipping")
	}
	return p
}

func runPromtool(t *testing.T, stdin []byte, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if len(bytes.TrimSpace(out)) > 0 {
		t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
	}
}

// TestPromtoolCheckMetrics lints a scrape of a live tunnel with every
// option on: the compatibility series, names, offloads, runtime metrics.
func TestPromtoolCheckMetrics(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock)
	send(t, a, b, "ping")
	send(t, b, a, "pong")
	settle(t, nw, a, b)
	names := filepath.Join(t.TempDir(), "wg0.conf")
	os.WriteFile(names, []byte("[Peer]\n# friendly_name = b \"the other\"\nPublicKey = "+b.Pub.String()+"\n"), 0o600)
	c := metrics.New(a.Tunnel, metrics.Options{Interface: "wg0", MindFlavor: true, NamesFile: names,
		Offloads: func() map[string]bool { return map[string]bool{"tun_gso": false} }})
	body := scrape(t, metrics.Handler(registry(t, c), nil))
	runPromtool(t, []byte(body), "check", "metrics")
}

// TestAlertRules checks the shipped alert rules and runs their unit tests.
func TestAlertRules(t *testing.T) {
	dir := filepath.Join("..", "contrib", "prometheus")
	runPromtool(t, nil, "check", "rules", filepath.Join(dir, "alerts.yml"))
	runPromtool(t, nil, "test", "rules", filepath.Join(dir, "alerts_test.yml"))
}
