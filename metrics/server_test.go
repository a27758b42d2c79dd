// SPDX-License-Identifier: MIT

package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/metrics"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestHealthz(t *testing.T) {
	nd := newNode(t, coretest.NewMemNetwork(), coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	srv := httptest.NewServer(metrics.Handler(registry(t, metrics.New(nd.Tunnel, metrics.Options{})), metrics.OpenWhile(nd.Tunnel.Closed())))
	defer srv.Close()
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("open tunnel: /healthz = %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/"); code != http.StatusNotFound {
		t.Errorf("/ = %d, want 404", code)
	}
	nd.Tunnel.Close()
	if code, _ := get(t, srv.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Fatalf("closed tunnel: /healthz = %d, want 503", code)
	}
	// Metrics of a closed tunnel are still readable: its last counters are
	// what an operator wants to see.
	if code, _ := get(t, srv.URL+"/metrics"); code != http.StatusOK {
		t.Errorf("closed tunnel: /metrics = %d", code)
	}
}

func TestServeAndClose(t *testing.T) {
	nd := newNode(t, coretest.NewMemNetwork(), coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	s, err := metrics.Serve("127.0.0.1:0", metrics.Handler(registry(t, metrics.New(nd.Tunnel, metrics.Options{})), nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.Addr().String()
	if code, _ := get(t, url+"/metrics"); code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	if code, _ := get(t, url+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d", code)
	}
	if _, err := metrics.Serve(s.Addr().String(), http.NotFoundHandler(), nil); err == nil {
		t.Error("a second server on the same port started")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
}
