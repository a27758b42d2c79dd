// SPDX-License-Identifier: MIT

//go:build linux

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// metricValue reads one unlabelled series from a /metrics page.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// procStatusKiB reads a "VmRSS:"-style line of /proc/PID/status.
func procStatusKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(field + `:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestTenThousandConnections opens 10,000 connections to the SOCKS5 proxy
// in waves of 2,000 held open at once (twice the proxy's limit of 1,024),
// each sending half a greeting or nothing, and drops them. The proxy's
// goroutines must stay bounded by its limit while they are open and
// return to where they were once they are gone, its memory must stay
// bounded, and the tunnel must still carry traffic afterwards.
func TestTenThousandConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	p := startPair(t, "verbose", "--metrics-listen", "127.0.0.1:0")
	a := p.a
	m := regexp.MustCompile(`msg="Serving metrics" .*addr=(\S+)`).FindStringSubmatch(a.stderr.String())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", a.stderr.String())
	}
	metrics := m[1]
	socks := a.all["socks5"][0]
	proxyURL := &url.URL{Scheme: "socks5", Host: socks}
	wantBody(t, proxyURL, "http://10.77.0.2/before", "hello from B, path /before")
	pid := a.cmd.Process.Pid
	base := metricValue(t, metrics, "go_goroutines")
	baseRSS := procStatusKiB(t, pid, "VmRSS")

	const total, wave, limit = 10_000, 2_000, 1024
	peak := base
	for opened := 0; opened < total; opened += wave {
		conns := make([]net.Conn, 0, wave)
		for i := 0; i < wave; i++ {
			c, err := net.Dial("tcp", socks)
			if err != nil {
				t.Fatalf("connection %d: %v", opened+i, err)
			}
			if i%2 == 0 {
				c.Write([]byte{5, 1}) // a greeting that never finishes
			}
			conns = append(conns, c)
		}
		// Wait until the proxy has seen the whole wave: it holds up to its
		// limit and has closed the rest, which the client sees as EOF.
		waitFor(t, 20*time.Second, "the proxy to take or refuse the wave", func() error {
			g := metricValue(t, metrics, "go_goroutines")
			peak = max(peak, g)
			if g < base+limit-10 {
				return fmt.Errorf("%v goroutines", g)
			}
			return nil
		})
		refused := 0
		for _, c := range conns[len(conns)-100:] {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				refused++
			}
		}
		if refused == 0 {
			t.Errorf("wave %d: none of the last 100 connections over the limit was closed", opened/wave)
		}
		for _, c := range conns {
			c.Close()
		}
	}
	var after float64
	waitFor(t, 20*time.Second, "the proxy's goroutines to return", func() error {
		after = metricValue(t, metrics, "go_goroutines")
		if after > base+10 {
			return fmt.Errorf("%v goroutines, %v before", after, base)
		}
		return nil
	})
	rss := procStatusKiB(t, pid, "VmRSS")
	hwm := procStatusKiB(t, pid, "VmHWM") // the peak over the process's life
	t.Logf("10,000 connections in waves of %d: goroutines %v before, peak %v, %v after; RSS %d KiB before, %d KiB after, peak (VmHWM) %d KiB",
		wave, base, peak, after, baseRSS, rss, hwm)
	if peak > base+limit+50 {
		t.Errorf("peak of %v goroutines, more than the limit of %d allows", peak, limit)
	}
	if hwm > 256<<10 {
		t.Errorf("peak RSS %d KiB", hwm)
	}
	wantBody(t, proxyURL, "http://web.wgplex.test/after", "hello from B, path /after")
}
