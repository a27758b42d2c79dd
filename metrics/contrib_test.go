// SPDX-License-Identifier: MIT

package metrics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/metrics"
	"github.com/wgplex/wgplex/plugins"
)

var seriesName = regexp.MustCompile(`\b(?:wgplex|wireguard|go|process)_[a-z0-9_]+`)

// descName pulls the series name out of a prometheus.Desc's String.
var descName = regexp.MustCompile(`fqName: "([a-z0-9_]+)"`)

// dashboardExprs returns every PromQL expression of the Grafana dashboard,
// template variables included.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "contrib", "grafana", "wgplex.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions in the dashboard", len(exprs))
	}
	return exprs
}

// TestContribUsesExportedSeries: every series the dashboard and the alert
// rules query is one that a scrape with every option on contains, so a
// renamed metric cannot leave them silently empty.
func TestContribUsesExportedSeries(t *testing.T) {
	nd := newNode(t, coretest.NewMemNetwork(), coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	addPeers(t, nd.Tunnel, 1)
	c := metrics.New(nd.Tunnel, metrics.Options{Interface: "wg0", MindFlavor: true,
		Offloads: func() map[string]bool { return map[string]bool{"tun_gso": true} }})
	exported := map[string]bool{}
	for _, s := range parseExposition(t, scrape(t, metrics.Handler(registry(t, c), nil))) {
		exported[s.name] = true
	}
	// The plugin host's series (package plugins) have no children until a
	// plugin runs; their descriptors name them.
	descs := make(chan *prometheus.Desc, 16)
	go func() { plugins.NewMetrics().Describe(descs); close(descs) }()
	for d := range descs {
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			exported[m[1]] = true
		}
	}
	rules, err := os.ReadFile(filepath.Join("..", "contrib", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, line := range strings.Split(string(rules), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			exprs = append(exprs, e)
		}
	}
	exprs = append(exprs, dashboardExprs(t)...)
	for _, e := range exprs {
		for _, name := range seriesName.FindAllString(e, -1) {
			if !exported[name] {
				t.Errorf("%s is queried but not exported (in %q)", name, e)
			}
		}
	}
}

// TestDashboardQueriesParse runs the dashboard's queries, with Grafana's
// variables filled in, through promtool's PromQL parser.
func TestDashboardQueriesParse(t *testing.T) {
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$device", ".*", "$job", ".*")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		if strings.HasPrefix(e, "label_values(") {
			continue // a Grafana function, not PromQL
		}
		q, _ := json.Marshal(vars.Replace(e))
		fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, nil, "check", "rules", path)
}
