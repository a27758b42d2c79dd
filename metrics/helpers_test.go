package metrics_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/metrics"
)

// node is one Tunnel on the in-memory network.
type node struct {
	tun   *core.Tunnel
	dev   *coretest.MemDevice
	bind  *coretest.MemBind
	key   core.PrivateKey
	pub   core.PublicKey
	inner netip.Addr
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustKey(t testing.TB) core.PrivateKey {
	t.Helper()
	k, err := noise.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newNode(t testing.TB, nw *coretest.MemNetwork, clock core.Clock, outer, inner string) *node {
	t.Helper()
	n := &node{
		dev:   coretest.NewMemDevice("wgt", 1420),
		bind:  nw.NewBind(netip.MustParseAddr(outer)),
		key:   mustKey(t),
		inner: netip.MustParseAddr(inner),
	}
	n.pub = n.key.PublicKey()
	tun, err := core.NewTunnel(core.Options{Device: n.dev, Bind: n.bind, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	n.tun = tun
	t.Cleanup(func() { tun.Close() })
	return n
}

func u16(v uint16) *uint16 { return &v }

// pair builds two connected nodes: a knows b's endpoint, b learns a's from
// the handshake. Each allows exactly the other's inner addresses.
func pair(t testing.TB, clock core.Clock) (a, b *node, nw *coretest.MemNetwork) {
	t.Helper()
	nw = coretest.NewMemNetwork()
	a = newNode(t, nw, clock, "192.0.2.1", "10.0.0.1")
	b = newNode(t, nw, clock, "192.0.2.2", "10.0.0.2")
	bEP := netip.MustParseAddrPort("192.0.2.2:51821")
	if err := a.tun.Apply(core.Config{PrivateKey: &a.key, ListenPort: u16(51820), Peers: []core.PeerConfig{{
		PublicKey: b.pub, Endpoint: &bEP,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.2/32")}, {Prefix: netip.MustParsePrefix("fd00::2/128")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.tun.Apply(core.Config{PrivateKey: &b.key, ListenPort: u16(51821), Peers: []core.PeerConfig{{
		PublicKey:  a.pub,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}, {Prefix: netip.MustParsePrefix("fd00::1/128")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both tunnels up", func() bool { return a.tun.IsUp() && b.tun.IsUp() })
	return a, b, nw
}

// ipPacket builds a minimal IPv4 packet with the given payload.
func ipPacket(src, dst netip.Addr, payload []byte) []byte {
	p := make([]byte, 20+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, 17
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	copy(p[20:], payload)
	return p
}

// waitFor polls cond until it holds or a 5 s deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// send injects a packet from one node to the other's inner address and
// waits for it to come out of the other's device.
func send(t testing.TB, from, to *node, payload string) {
	t.Helper()
	pkt := ipPacket(from.inner, to.inner, []byte(payload))
	if !from.dev.Inject(pkt) {
		t.Fatal("inject failed")
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-to.dev.Outbound():
			if string(got) == string(pkt) {
				return
			}
		case <-timeout:
			t.Fatalf("packet of %d bytes did not arrive", len(pkt))
		}
	}
}

// settle waits until the network and the devices have nothing in flight.
// The tunnels' own queues are not visible from outside package core; the
// tests that need exact counts also wait for the count itself.
func settle(t testing.TB, nw *coretest.MemNetwork, nodes ...*node) {
	t.Helper()
	waitFor(t, "quiescence", func() bool {
		if !nw.Idle() {
			return false
		}
		for _, n := range nodes {
			if !n.dev.Idle() {
				return false
			}
		}
		return true
	})
}

// registry is what the daemon builds: the tunnel's collector next to the
// runtime ones.
func registry(t testing.TB, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	reg.MustRegister(metrics.RuntimeCollectors()...)
	return reg
}

// scrape fetches /metrics from h through a real HTTP round trip and
// returns the body.
func scrape(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s\n%s", resp.Status, body)
	}
	return string(body)
}

// sample is one line of the text exposition format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseExposition reads the text format: enough of it for these tests
// (no timestamps, no exemplars), strict about what it does read.
func parseExposition(t testing.TB, text string) []sample {
	t.Helper()
	var out []sample
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			t.Fatalf("%v in line %q", err, line)
		}
		out = append(out, s)
	}
	return out
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad label")
			}
			k := line[:eq]
			line = line[eq+2:]
			var v strings.Builder
			for {
				if line == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\\' && line != "" {
					switch line[0] {
					case 'n':
						v.WriteByte('\n')
					default:
						v.WriteByte(line[0])
					}
					line = line[1:]
					continue
				}
				v.WriteByte(c)
			}
			s.labels[k] = v.String()
			line = strings.TrimPrefix(line, ",")
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(line), 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

// find returns the samples named name whose labels include want.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// value returns the one sample named name with labels want.
func value(t testing.TB, samples []sample, name string, want map[string]string) float64 {
	t.Helper()
	got := find(samples, name, want)
	if len(got) != 1 {
		t.Fatalf("%s%v: %d samples, want 1", name, want, len(got))
	}
	return got[0].value
}
