// SPDX-License-Identifier: MIT

package metrics_test

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/metrics"
)

// uapiPeer is what `wg show` reads for one peer.
type uapiPeer struct {
	rx, tx        uint64
	handshakeSec  int64
	handshakeNsec int64
}

// uapiGet asks the tunnel for its state through the UAPI protocol, as
// wg(8) does, and returns the peers by base64 public key.
func uapiGet(t testing.TB, tun *core.Tunnel) map[string]uapiPeer {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	done := make(chan error, 1)
	go func() {
		done <- uapi.ServeConn(server, tun, nil)
		server.Close()
	}()
	if _, err := client.Write([]byte("get=1\n\n")); err != nil {
		t.Fatal(err)
	}
	peers := map[string]uapiPeer{}
	var cur string
	r := bufio.NewReader(client)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the UAPI reply: %v", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, "=")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "errno":
			if v != "0" {
				t.Fatalf("UAPI get: errno=%s", v)
			}
		case "public_key":
			raw, err := hex.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			cur = base64.StdEncoding.EncodeToString(raw)
			peers[cur] = uapiPeer{}
		case "rx_bytes", "tx_bytes", "last_handshake_time_sec", "last_handshake_time_nsec":
			p := peers[cur]
			switch k {
			case "rx_bytes":
				p.rx = n
			case "tx_bytes":
				p.tx = n
			case "last_handshake_time_sec":
				p.handshakeSec = int64(n)
			case "last_handshake_time_nsec":
				p.handshakeNsec = int64(n)
			}
			peers[cur] = p
		}
	}
	client.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return peers
}

// stableUAPI returns the UAPI view once two reads 20 ms apart agree: the
// last packet can be out of the device a moment before its bytes are
// counted.
func stableUAPI(t testing.TB, tun *core.Tunnel) map[string]uapiPeer {
	t.Helper()
	var got map[string]uapiPeer
	waitFor(t, "counters to settle", func() bool {
		a := uapiGet(t, tun)
		time.Sleep(20 * time.Millisecond)
		b := uapiGet(t, tun)
		got = b
		return fmt.Sprint(a) == fmt.Sprint(b)
	})
	return got
}

func TestScrapeMatchesUAPI(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock)
	send(t, a, b, "hello from a")
	send(t, b, a, "hello from b")
	clock.Advance(3 * time.Second)
	send(t, a, b, strings.Repeat("x", 900))
	settle(t, nw, a, b)

	for _, n := range []*node{a, b} {
		want := stableUAPI(t, n.Tunnel)
		h := metrics.Handler(registry(t, metrics.New(n.Tunnel, metrics.Options{Interface: "wgt"})), nil)
		samples := parseExposition(t, scrape(t, h))
		if again := uapiGet(t, n.Tunnel); fmt.Sprint(again) != fmt.Sprint(want) {
			t.Fatal("counters moved during the scrape; the comparison would mean nothing")
		}
		if len(want) != 1 {
			t.Fatalf("UAPI lists %d peers, want 1", len(want))
		}
		for pub, p := range want {
			l := map[string]string{"device": "wgt", "public_key": pub}
			if p.rx == 0 || p.tx == 0 || p.handshakeSec == 0 {
				t.Fatalf("peer %s: nothing to compare (rx=%d tx=%d handshake=%d)", pub, p.rx, p.tx, p.handshakeSec)
			}
			if got := value(t, samples, "wireguard_peer_receive_bytes_total", l); got != float64(p.rx) {
				t.Errorf("receive bytes = %v, UAPI rx_bytes = %d", got, p.rx)
			}
			if got := value(t, samples, "wireguard_peer_transmit_bytes_total", l); got != float64(p.tx) {
				t.Errorf("transmit bytes = %v, UAPI tx_bytes = %d", got, p.tx)
			}
			if got := value(t, samples, "wireguard_peer_last_handshake_seconds", l); got != float64(p.handshakeSec) {
				t.Errorf("last handshake = %v, UAPI last_handshake_time_sec = %d", got, p.handshakeSec)
			}
			// The fake clock makes the time known exactly.
			if p.handshakeSec != epoch.Unix() {
				t.Errorf("UAPI last handshake %d, want the clock's %d", p.handshakeSec, epoch.Unix())
			}
		}
		snap := n.Tunnel.Snapshot()
		if got := value(t, samples, "wireguard_device_info", map[string]string{"device": "wgt"}); got != 1 {
			t.Errorf("device info = %v", got)
		}
		if got := find(samples, "wireguard_device_info", map[string]string{"public_key": snap.PublicKey.String()}); len(got) != 1 {
			t.Errorf("device info does not carry the interface's public key")
		}
		peer := snap.Peers[0]
		info := find(samples, "wireguard_peer_info", map[string]string{"public_key": peer.PublicKey.String(), "endpoint": peer.Endpoint.String(), "name": ""})
		if len(info) != 1 {
			t.Errorf("peer info for endpoint %s missing", peer.Endpoint)
		}
		ips := find(samples, "wireguard_peer_allowed_ips_info", map[string]string{"public_key": peer.PublicKey.String()})
		if len(ips) != 2 {
			t.Fatalf("%d allowed-IPs series, want 2", len(ips))
		}
		fam := map[string]string{}
		for _, s := range ips {
			fam[s.labels["allowed_ips"]] = s.labels["family"]
		}
		if n == a && (fam["10.0.0.2/32"] != "IPv4" || fam["fd00::2/128"] != "IPv6") {
			t.Errorf("allowed IPs/families = %v", fam)
		}

		// Aggregates agree with Stats.
		st := n.Tunnel.Stats()
		if got := value(t, samples, "wgplex_peers", map[string]string{"state": "established"}); got != 1 {
			t.Errorf("established peers = %v, want 1", got)
		}
		ini := value(t, samples, "wgplex_handshakes_total", map[string]string{"role": "initiator", "result": "completed"})
		resp := value(t, samples, "wgplex_handshakes_total", map[string]string{"role": "responder", "result": "completed"})
		if ini != float64(st.HandshakesAsInitiator) || ini+resp != float64(st.HandshakesCompleted) || ini+resp == 0 {
			t.Errorf("completed handshakes = %v as initiator + %v as responder, Stats = %d (%d as initiator)", ini, resp, st.HandshakesCompleted, st.HandshakesAsInitiator)
		}
		if got := value(t, samples, "wgplex_packets_total", map[string]string{"direction": "transmit"}); got != float64(st.TxPackets) {
			t.Errorf("transmitted packets = %v, Stats = %d", got, st.TxPackets)
		}
		if got := value(t, samples, "wgplex_interface_up", nil); got != 1 {
			t.Errorf("interface up = %v", got)
		}
		if got := len(find(samples, "wgplex_dropped_packets_total", map[string]string{"device": "wgt"})); got != len(core.DropReasons()) {
			t.Errorf("%d drop reasons exported, want all %d", got, len(core.DropReasons()))
		}
		if len(find(samples, "go_goroutines", nil)) != 1 || len(find(samples, "process_start_time_seconds", nil)) != 1 {
			t.Error("Go runtime or process metrics missing")
		}
	}
	// a initiated: its handshake duration was observed.
	samples := parseExposition(t, scrape(t, metrics.Handler(registry(t, metrics.New(a.Tunnel, metrics.Options{})), nil)))
	if got := value(t, samples, "wgplex_handshake_duration_seconds_count", nil); got < 1 {
		t.Errorf("handshake duration count = %v", got)
	}
	if got := value(t, samples, "wgplex_handshake_messages_total", map[string]string{"message": "initiation", "direction": "sent"}); got < 1 {
		t.Errorf("initiations sent = %v", got)
	}
	// Received messages split by validity, the parts adding up to Stats.
	st := a.Tunnel.Stats()
	valid := value(t, samples, "wgplex_handshake_messages_total", map[string]string{"message": "response", "direction": "received", "result": "valid"})
	invalid := value(t, samples, "wgplex_handshake_messages_total", map[string]string{"message": "response", "direction": "received", "result": "invalid"})
	if valid < 1 || valid+invalid != float64(st.ResponsesReceived) || invalid != float64(st.ResponsesInvalid) {
		t.Errorf("responses received: %v valid + %v invalid, Stats = %d (%d invalid)", valid, invalid, st.ResponsesReceived, st.ResponsesInvalid)
	}
	if got := len(find(samples, "wgplex_cookie_replies_total", map[string]string{"direction": "received"})); got != 2 {
		t.Errorf("%d received cookie reply series, want valid and invalid", got)
	}
}

func TestReplayedPacketsCountedExactly(t *testing.T) {
	const n = 7
	clock := coretest.NewFakeClock(epoch)
	a, b, nw := pair(t, clock)
	aAddr, bAddr := netip.MustParseAddrPort("192.0.2.1:51820"), netip.MustParseAddrPort("192.0.2.2:51821")

	// Capture one real data message from a to b on its way.
	var mu sync.Mutex
	var captured []byte
	nw.SetFilter(func(from, to netip.AddrPort, pkt []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		// Type 4 is a transport data message; 32 bytes is a keepalive.
		if captured == nil && from == aAddr && to == bAddr && len(pkt) > 32 && pkt[0] == 4 {
			captured = append([]byte(nil), pkt...)
		}
		return true
	})
	send(t, a, b, "first")
	send(t, a, b, "to be replayed")
	settle(t, nw, a, b)
	mu.Lock()
	replay := captured
	mu.Unlock()
	if replay == nil {
		t.Fatal("no data message captured")
	}

	h := metrics.Handler(registry(t, metrics.New(b.Tunnel, metrics.Options{Interface: "wgt"})), nil)
	dropsOf := func(samples []sample) float64 {
		return value(t, samples, "wgplex_dropped_packets_total", map[string]string{"reason": "replay"})
	}
	rxOf := func(samples []sample) float64 {
		return value(t, samples, "wireguard_peer_receive_bytes_total", map[string]string{"public_key": a.Pub.String()})
	}
	stableUAPI(t, b.Tunnel)
	before := parseExposition(t, scrape(t, h))

	// The same bytes again from the same source: a MemBind sends from its
	// own address, so a's bind is the sender.
	dst := &coretest.MemEndpoint{Dst: bAddr}
	for range n {
		if err := a.Bind.Send([][]byte{replay}, dst); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, nw, a, b)
	waitFor(t, "the replays to be dropped", func() bool {
		return float64(b.Tunnel.Stats().Drops[core.DropReplay]) >= dropsOf(before)+n
	})
	stableUAPI(t, b.Tunnel)
	after := parseExposition(t, scrape(t, h))

	if got := dropsOf(after) - dropsOf(before); got != n {
		t.Fatalf("replay drops rose by %v, want exactly %d", got, n)
	}
	if rxOf(after) != rxOf(before) {
		t.Errorf("replayed packets counted as received: %v -> %v bytes", rxOf(before), rxOf(after))
	}
	for _, r := range core.DropReasons() {
		if r == core.DropReplay {
			continue
		}
		l := map[string]string{"reason": r.String()}
		if value(t, after, "wgplex_dropped_packets_total", l) != value(t, before, "wgplex_dropped_packets_total", l) {
			t.Errorf("drops for %s moved too", r)
		}
	}
}

// addPeers gives tun n peers with one /32 each, without any traffic.
func addPeers(t testing.TB, tun *core.Tunnel, n int) []core.PublicKey {
	t.Helper()
	key := mustKey(t)
	cfg := core.Config{PrivateKey: &key}
	var pubs []core.PublicKey
	for i := range n {
		pub := mustKey(t).PublicKey()
		pubs = append(pubs, pub)
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		cfg.Peers = append(cfg.Peers, core.PeerConfig{PublicKey: pub,
			AllowedIPs: []core.AllowedIPChange{{Prefix: netip.PrefixFrom(addr, 32)}}})
	}
	if err := tun.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	return pubs
}

func TestPerPeerCap(t *testing.T) {
	nw := coretest.NewMemNetwork()
	nd := newNode(t, nw, coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	pubs := addPeers(t, nd.Tunnel, 2)

	for _, tc := range []struct {
		max, shown int
		capped     float64
	}{{1, 1, 1}, {2, 2, 0}, {0, 2, 0}, {-1, 0, 1}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			c := metrics.New(nd.Tunnel, metrics.Options{Interface: "wgt", MaxPeers: tc.max, MindFlavor: true})
			samples := parseExposition(t, scrape(t, metrics.Handler(registry(t, c), nil)))
			for _, name := range []string{
				"wireguard_peer_info", "wireguard_peer_allowed_ips_info", "wireguard_peer_receive_bytes_total",
				"wireguard_peer_transmit_bytes_total", "wireguard_peer_last_handshake_seconds",
				"wireguard_sent_bytes_total", "wireguard_received_bytes_total", "wireguard_latest_handshake_seconds",
			} {
				if got := len(find(samples, name, nil)); got != tc.shown {
					t.Errorf("%s: %d series, want %d", name, got, tc.shown)
				}
				// Deterministic: the first peers in the tunnel's order.
				for i, pub := range pubs {
					has := len(find(samples, name, map[string]string{"public_key": pub.String()})) == 1
					if has != (i < tc.shown) {
						t.Errorf("%s: peer %d shown = %v", name, i, has)
					}
				}
			}
			var total float64
			for _, s := range find(samples, "wgplex_peers", nil) {
				total += s.value
			}
			if total != 2 {
				t.Errorf("wgplex_peers sums to %v, want 2 whatever the cap", total)
			}
			if got := value(t, samples, "wgplex_peers_series_capped", nil); got != tc.capped {
				t.Errorf("capped = %v, want %v", got, tc.capped)
			}
			if got := value(t, samples, "wgplex_peers_series_omitted", nil); got != float64(2-tc.shown) {
				t.Errorf("omitted = %v, want %d", got, 2-tc.shown)
			}
		})
	}
}

func TestNamesFromConfigFile(t *testing.T) {
	nw := coretest.NewMemNetwork()
	nd := newNode(t, nw, coretest.NewFakeClock(epoch), "192.0.2.1", "10.0.0.1")
	pubs := addPeers(t, nd.Tunnel, 3)
	path := filepath.Join(t.TempDir(), "wg0.conf")
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(`[Interface]
# Name = not a peer
PrivateKey = aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd28=

[Peer]
# friendly_name = laptop
PublicKey = %s
AllowedIPs = 10.0.0.0/32

[peer]
#name=phone "work"
PublicKey = %s # trailing comment
`, pubs[0], pubs[1]), epoch)

	now := epoch.Add(time.Hour)
	c := metrics.New(nd.Tunnel, metrics.Options{Interface: "wg0", NamesFile: path, MindFlavor: true,
		Now: func() time.Time { return now }})
	h := metrics.Handler(registry(t, c), nil)
	nameOf := func(samples []sample, pub core.PublicKey) (string, string) {
		t.Helper()
		info := find(samples, "wireguard_peer_info", map[string]string{"public_key": pub.String()})
		mf := find(samples, "wireguard_sent_bytes_total", map[string]string{"public_key": pub.String()})
		if len(info) != 1 || len(mf) != 1 {
			t.Fatalf("peer %s: %d info, %d sent series", pub, len(info), len(mf))
		}
		return info[0].labels["name"], mf[0].labels["friendly_name"]
	}
	samples := parseExposition(t, scrape(t, h))
	for i, want := range []string{"laptop", `phone "work"`, ""} {
		n, fn := nameOf(samples, pubs[i])
		if n != want || fn != want {
			t.Errorf("peer %d: name %q, friendly_name %q, want %q", i, n, fn, want)
		}
	}
	// MindFlavor's labels and the never-handshaked delay.
	l := map[string]string{"public_key": pubs[0].String(), "interface": "wg0", "allowed_ips": "10.0.0.0/32"}
	if got := value(t, samples, "wireguard_latest_handshake_delay_seconds", l); got != float64(now.Unix()) {
		t.Errorf("delay for a peer without handshake = %v, want %d", got, now.Unix())
	}

	// The file changes: the next scrape sees it.
	write(fmt.Sprintf("[Peer]\nPublicKey = %s\n# Name = renamed\n", pubs[2]), epoch.Add(time.Minute))
	samples = parseExposition(t, scrape(t, h))
	if n, _ := nameOf(samples, pubs[2]); n != "renamed" {
		t.Errorf("after the change: name %q, want renamed", n)
	}
	if n, _ := nameOf(samples, pubs[0]); n != "" {
		t.Errorf("after the change: a name that left the file stays: %q", n)
	}
	// The file goes away: the last names stay rather than flapping.
	os.Remove(path)
	samples = parseExposition(t, scrape(t, h))
	if n, _ := nameOf(samples, pubs[2]); n != "renamed" {
		t.Errorf("after removal: name %q, want the last one read", n)
	}
}

func TestParseNames(t *testing.T) {
	k1 := "2S7mA0vEMethCNQrJpJKE81/JmhgtB+tHHLYQhgM6kk="
	k2 := "qnoxQoQI8KKMupLnSSureORV0wMmH7JryZNsmGVISzU="
	k3 := "L2UoJZN7RmEKsMmqaJgKG0m1S2Zs2wd2ptAf+kb3008="
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"both conventions", "[Peer]\n# friendly_name = a\nPublicKey = " + k1 + "\n\n[Peer]\n# Name = b\nPublicKey=" + k2 + "\n",
			map[string]string{k1: "a", k2: "b"}},
		{"friendly_name wins over Name in either order", "[Peer]\n# Name = n\n# friendly_name = f\nPublicKey = " + k1 + "\n[Peer]\n#friendly_name=f\n#NAME=n\nPublicKey = " + k2,
			map[string]string{k1: "f", k2: "f"}},
		{"plain comments are not names", "[Peer]\n# laptop\n# AllowedIPs = 10.0.0.1/32\nPublicKey = " + k1,
			map[string]string{}},
		{"interface section ignored", "[Interface]\n# Name = x\nPublicKey = " + k1 + "\n[Peer]\n# Name = y\nPublicKey = " + k2,
			map[string]string{k2: "y"}},
		{"invalid key skipped, others kept", "[Peer]\n# Name = bad\nPublicKey = nope\n[Peer]\n# Name = ok\nPublicKey = " + k3,
			map[string]string{k3: "ok"}},
		{"name does not leak into the next section", "[Peer]\n# Name = first\n[Peer]\nPublicKey = " + k1,
			map[string]string{}},
		{"CRLF and indentation", "[Peer]\r\n  # Name = win  \r\n  PublicKey = " + k1 + "\r\n",
			map[string]string{k1: "win"}},
		{"empty", "", map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := metrics.ParseNames([]byte(tc.in))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	long := metrics.ParseNames([]byte("[Peer]\n# Name = " + strings.Repeat("é", 200) + "\nPublicKey = " + k1))
	if n := long[k1]; len(n) > 128 || !strings.HasPrefix(n, "éé") {
		t.Errorf("long name kept as %d bytes", len(n))
	}
}

// fakeSource is a Source with fixed read-outs.
type fakeSource struct {
	st   core.Stats
	snap core.Snapshot
}

func (f *fakeSource) Stats() core.Stats       { return f.st }
func (f *fakeSource) Snapshot() core.Snapshot { return f.snap }

func TestHistogramsAndOffloads(t *testing.T) {
	src := &fakeSource{st: core.Stats{
		Drops: map[core.DropReason]uint64{core.DropNoPeer: 3},
		HandshakeDuration: core.Histogram{Bounds: []float64{0.001, 0.01}, Counts: []uint64{2, 3, 1},
			Sum: 0.5, Count: 6},
		DeviceReadBatch: core.Histogram{Bounds: []float64{1, 2}, Counts: []uint64{4, 0, 0}, Sum: 4, Count: 4},
		// An observation under way: bucket counted, Count not yet.
		SocketReadBatch: core.Histogram{Bounds: []float64{1, 2}, Counts: []uint64{1, 1, 0}, Sum: 3, Count: 1},
	}}
	c := metrics.New(src, metrics.Options{Interface: "x", Offloads: func() map[string]bool {
		return map[string]bool{"tun_gso": true, "udp_gro": false}
	}})
	samples := parseExposition(t, scrape(t, metrics.Handler(registry(t, c), nil)))
	for le, want := range map[string]float64{"0.001": 2, "0.01": 5, "+Inf": 6} {
		if got := value(t, samples, "wgplex_handshake_duration_seconds_bucket", map[string]string{"le": le}); got != want {
			t.Errorf("bucket le=%s: %v, want %v", le, got, want)
		}
	}
	if got := value(t, samples, "wgplex_handshake_duration_seconds_sum", nil); got != 0.5 {
		t.Errorf("sum = %v", got)
	}
	if got := value(t, samples, "wgplex_batch_size_packets_count", map[string]string{"path": "socket_read"}); got != 2 {
		t.Errorf("count below the buckets' total: %v, want 2", got)
	}
	if got := value(t, samples, "wgplex_dropped_packets_total", map[string]string{"reason": "no_peer"}); got != 3 {
		t.Errorf("no_peer drops = %v", got)
	}
	if value(t, samples, "wgplex_offload_enabled", map[string]string{"offload": "tun_gso"}) != 1 ||
		value(t, samples, "wgplex_offload_enabled", map[string]string{"offload": "udp_gro"}) != 0 {
		t.Error("offload gauges wrong")
	}
	if len(find(samples, "wgplex_interface_up", nil)) != 0 {
		t.Error("interface_up from a source that cannot tell")
	}
	if got := value(t, samples, "wireguard_device_info", nil); got != 1 {
		t.Errorf("device info = %v", got)
	}
}

// TestTwoTunnelsOneRegistry: an embedder running several tunnels
// registers one Collector per tunnel in the same registry.
func TestTwoTunnelsOneRegistry(t *testing.T) {
	clock := coretest.NewFakeClock(epoch)
	a, b, _ := pair(t, clock)
	reg := registry(t, metrics.New(a.Tunnel, metrics.Options{Interface: "wg0", MindFlavor: true}))
	if err := reg.Register(metrics.New(b.Tunnel, metrics.Options{Interface: "wg1", MindFlavor: true})); err != nil {
		t.Fatal(err)
	}
	samples := parseExposition(t, scrape(t, metrics.Handler(reg, nil)))
	for _, dev := range []string{"wg0", "wg1"} {
		if got := len(find(samples, "wireguard_device_info", map[string]string{"device": dev})); got != 1 {
			t.Errorf("device %s: %d info series", dev, got)
		}
		if got := len(find(samples, "wireguard_sent_bytes_total", map[string]string{"interface": dev})); got != 1 {
			t.Errorf("interface %s: %d sent series", dev, got)
		}
	}
}
