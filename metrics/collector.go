// SPDX-License-Identifier: MIT

// Package metrics exports a tunnel's statistics to Prometheus.
//
// The core keeps plain atomic counters and knows nothing of Prometheus; a
// Collector reads them when Prometheus scrapes (Tunnel.Stats is a handful
// of atomic loads, Tunnel.Snapshot takes short read locks), so there is
// nothing to update on the data path and no value is ever stale.
//
// Three groups of series come out, all documented in docs/metrics.md:
//
//   - the series of the wireguard_exporter (github.com/mdlayher), with the
//     same names, labels and help, so that its dashboards and alerts work;
//   - optionally, the series of prometheus_wireguard_exporter (MindFlavor);
//   - wgplex_* series for what wg(8) cannot show: drops by reason,
//     handshake outcomes and durations, batch sizes, load state. Their
//     labels take a small, fixed set of values.
//
// Per-peer series grow with the number of peers; a cap (Options.MaxPeers)
// bounds them while the aggregate series stay exact.
package metrics

import (
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wgplex/wgplex/core"
)

// Source is what a Collector reads: *core.Tunnel implements it. Tests and
// embedders may pass their own.
type Source interface {
	Stats() core.Stats
	Snapshot() core.Snapshot
}

// DefaultMaxPeers is the per-peer series cap when Options.MaxPeers is 0:
// far above any single interface seen in practice, low enough that a
// runaway discovery plugin cannot take the metrics server down with it.
const DefaultMaxPeers = 10000

// Options tune a Collector. The zero value is usable.
type Options struct {
	// Interface is the interface name, the value of the device label
	// (interface label for the MindFlavor series).
	Interface string
	// MindFlavor adds prometheus_wireguard_exporter's series
	// (wireguard_sent_bytes_total, ...) next to the default ones, so that
	// dashboards built for that exporter work unchanged.
	MindFlavor bool
	// NamesFile is a wg(8)/wg-quick(8) configuration file to take peer
	// names from (see ParseNames). It is re-read when it changes. Empty:
	// peers have no names.
	NamesFile string
	// MaxPeers caps the peers that get per-peer series: the first MaxPeers
	// peers in the tunnel's order (the order they were added) do, the rest
	// do not. 0 means DefaultMaxPeers; a negative value means no per-peer
	// series at all.
	MaxPeers int
	// Offloads reports which packet offloads the device and the UDP
	// transport have on (e.g. "tun_gso": true, "udp_gro": false); each
	// becomes a wgplex_offload_enabled series. Nil: the series is absent.
	// It is called on every scrape and must be cheap.
	Offloads func() map[string]bool
	// Logger receives the rare problems of a scrape (an unreadable names
	// file); nil discards them.
	Logger *slog.Logger
	// Now is the wall clock for wireguard_latest_handshake_delay_seconds;
	// nil means time.Now. A tunnel run on a fake clock passes that clock.
	Now func() time.Time
}

// Collector is a prometheus.Collector over one tunnel. Register it once;
// every scrape reads the tunnel afresh.
type Collector struct {
	src   Source
	opts  Options
	names *nameSource
	d     descs
}

// New returns a Collector for src.
func New(src Source, o Options) *Collector {
	if o.MaxPeers == 0 {
		o.MaxPeers = DefaultMaxPeers
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// A label value must be UTF-8, and a bad one would fail every scrape.
	o.Interface = strings.ToValidUTF8(o.Interface, "\uFFFD")
	c := &Collector{src: src, opts: o, d: newDescs(o.Interface)}
	if o.NamesFile != "" {
		c.names = newNameSource(o.NamesFile, o.Logger)
	}
	return c
}

// RuntimeCollectors returns the Go runtime and process collectors that a
// daemon registers next to its Collector.
func RuntimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
}

// upper is what *core.Tunnel offers beyond Source; a Source without it
// simply has no wgplex_interface_up series.
type upper interface{ IsUp() bool }

type descs struct {
	// wireguard_exporter's series.
	deviceInfo, peerInfo, peerAllowedIPs    *prometheus.Desc
	peerRxBytes, peerTxBytes, peerHandshake *prometheus.Desc
	// prometheus_wireguard_exporter's series.
	mfSent, mfReceived, mfHandshake, mfDelay *prometheus.Desc
	// wgplex's own.
	up, peers, peersCapped, peersOmitted         *prometheus.Desc
	hsMessages, handshakes, hsDuration           *prometheus.Desc
	packets, bytes, drops, cookies, underLoad    *prometheus.Desc
	rotations, endpointChanges, keepalives, keys *prometheus.Desc
	batch, offload                               *prometheus.Desc
}

func newDescs(ifname string) descs {
	// The interface name is a constant label of every series, so that
	// collectors of several tunnels can share one registry.
	dev := prometheus.Labels{"device": ifname}
	mf := prometheus.Labels{"interface": ifname}
	mfLabels := []string{"public_key", "allowed_ips", "friendly_name"}
	n := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wgplex_"+name, help, labels, dev)
	}
	return descs{
		deviceInfo: prometheus.NewDesc("wireguard_device_info",
			"Metadata about a device.", []string{"public_key"}, dev),
		peerInfo: prometheus.NewDesc("wireguard_peer_info",
			"Metadata about a peer. The public_key label on peer metrics refers to the peer's public key; not the device's public key.",
			[]string{"public_key", "endpoint", "name"}, dev),
		peerAllowedIPs: prometheus.NewDesc("wireguard_peer_allowed_ips_info",
			"Metadata about each of a peer's allowed IP subnets for a given device.",
			[]string{"public_key", "allowed_ips", "family"}, dev),
		peerRxBytes: prometheus.NewDesc("wireguard_peer_receive_bytes_total",
			"Number of bytes received from a given peer.", []string{"public_key"}, dev),
		peerTxBytes: prometheus.NewDesc("wireguard_peer_transmit_bytes_total",
			"Number of bytes transmitted to a given peer.", []string{"public_key"}, dev),
		peerHandshake: prometheus.NewDesc("wireguard_peer_last_handshake_seconds",
			"UNIX timestamp for the last handshake with a given peer.", []string{"public_key"}, dev),

		mfSent: prometheus.NewDesc("wireguard_sent_bytes_total",
			"Bytes sent to the peer", mfLabels, mf),
		mfReceived: prometheus.NewDesc("wireguard_received_bytes_total",
			"Bytes received from the peer", mfLabels, mf),
		mfHandshake: prometheus.NewDesc("wireguard_latest_handshake_seconds",
			"Seconds from the last handshake", mfLabels, mf),
		mfDelay: prometheus.NewDesc("wireguard_latest_handshake_delay_seconds",
			"Seconds from the last handshake", mfLabels, mf),

		up:           n("interface_up", "1 while the interface is up (its UDP port is open and packets flow), else 0."),
		peers:        n("peers", "Configured peers by session state: idle (no usable session, no handshake under way), handshaking (an initiation is unanswered), established (a usable keypair).", "state"),
		peersCapped:  n("peers_series_capped", "1 when some peers have no per-peer series because the per-peer cap was reached, else 0. Aggregate series still count every peer."),
		peersOmitted: n("peers_series_omitted", "Peers left out of the per-peer series by the per-peer cap."),
		hsMessages:   n("handshake_messages_total", "Handshake messages by type (initiation, response), direction (sent, received) and result: valid (sent, or received, authenticated and acted on) or invalid (received and not acted on: bad MAC, failed decryption, unknown index, replay, rate limit, answered with a cookie). Retransmissions count.", "message", "direction", "result"),
		handshakes:   n("handshakes_total", "Handshakes by role (initiator, responder) and result: completed (a session was derived), failed (as initiator, this side gave up after Rekey-Attempt-Time).", "role", "result"),
		hsDuration:   n("handshake_duration_seconds", "Time from the first initiation to the consumed response, for handshakes this side initiated, retries included."),
		packets:      n("packets_total", "Packets through the tunnel by direction: receive (decrypted IP packets delivered to the device), transmit (data messages encrypted and sent, keepalives included).", "direction"),
		bytes:        n("bytes_total", "Outer bytes of every message to and from peers (data, keepalives and handshake messages) by direction: the sum of the per-peer byte counters.", "direction"),
		drops:        n("dropped_packets_total", "Packets the tunnel discarded, by reason.", "reason"),
		cookies:      n("cookie_replies_total", "Cookie reply messages by direction: sent (this side is under load), received (a peer is); and result: valid (sent, or received and decrypted for a handshake of ours) or invalid.", "direction", "result"),
		underLoad:    n("under_load", "1 while the tunnel demands cookies for handshakes (whitepaper section 5.3), else 0."),
		rotations:    n("keypair_rotations_total", "Session keypairs installed: one per completed handshake, either role."),
		endpointChanges: n("endpoint_changes_total",
			"Times a peer's endpoint changed to the source of an authenticated packet (roaming)."),
		keepalives: n("keepalives_sent_total", "Keepalive messages sent (passive and persistent)."),
		keys:       n("keystore_calls_total", "Static-key Diffie-Hellman operations asked of the key store (a vault plugin is called this often)."),
		batch:      n("batch_size_packets", "Packets per read call by path: device_read (from the TUN device, send path), socket_read (from the UDP socket, receive path).", "path"),
		offload:    n("offload_enabled", "1 when the named packet offload is on, else 0.", "offload"),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.d
	for _, x := range []*prometheus.Desc{
		d.deviceInfo, d.peerInfo, d.peerAllowedIPs, d.peerRxBytes, d.peerTxBytes, d.peerHandshake,
		d.peers, d.peersCapped, d.peersOmitted, d.hsMessages, d.handshakes, d.hsDuration,
		d.packets, d.bytes, d.drops, d.cookies, d.underLoad, d.rotations, d.endpointChanges,
		d.keepalives, d.keys, d.batch,
	} {
		ch <- x
	}
	if _, ok := c.src.(upper); ok {
		ch <- d.up
	}
	if c.opts.MindFlavor {
		ch <- d.mfSent
		ch <- d.mfReceived
		ch <- d.mfHandshake
		ch <- d.mfDelay
	}
	if c.opts.Offloads != nil {
		ch <- d.offload
	}
}

// Collect implements prometheus.Collector. It reads the tunnel once per
// call: the per-peer and the aggregate series come from the same Snapshot.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	snap := c.src.Snapshot()
	c.collectStats(ch, &st)
	c.collectPeers(ch, &snap)
}

func (c *Collector) collectStats(ch chan<- prometheus.Metric, st *core.Stats) {
	d := &c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	if u, ok := c.src.(upper); ok {
		gauge(d.up, b2f(u.IsUp()))
	}
	// Received messages by validity: anyone can send bytes of the right
	// size and type, so only the valid ones show real handshake traffic.
	counter(d.hsMessages, st.InitiationsSent, "initiation", "sent", "valid")
	counter(d.hsMessages, st.InitiationsReceived-st.InitiationsInvalid, "initiation", "received", "valid")
	counter(d.hsMessages, st.InitiationsInvalid, "initiation", "received", "invalid")
	counter(d.hsMessages, st.ResponsesSent, "response", "sent", "valid")
	counter(d.hsMessages, st.ResponsesReceived-st.ResponsesInvalid, "response", "received", "valid")
	counter(d.hsMessages, st.ResponsesInvalid, "response", "received", "invalid")
	counter(d.handshakes, st.HandshakesAsInitiator, "initiator", "completed")
	counter(d.handshakes, st.HandshakesCompleted-min(st.HandshakesAsInitiator, st.HandshakesCompleted), "responder", "completed")
	counter(d.handshakes, st.HandshakesFailed, "initiator", "failed")
	ch <- constHistogram(d.hsDuration, st.HandshakeDuration)
	counter(d.packets, st.RxPackets, "receive")
	counter(d.packets, st.TxPackets, "transmit")
	counter(d.bytes, st.RxBytes, "receive")
	counter(d.bytes, st.TxBytes, "transmit")
	// Every reason, zero or not, so that rate() works from the first
	// drop on and a dashboard shows the full list.
	for _, r := range core.DropReasons() {
		counter(d.drops, st.Drops[r], r.String())
	}
	counter(d.cookies, st.CookieRepliesSent, "sent", "valid")
	counter(d.cookies, st.CookieRepliesReceived-st.CookieRepliesInvalid, "received", "valid")
	counter(d.cookies, st.CookieRepliesInvalid, "received", "invalid")
	gauge(d.underLoad, b2f(st.UnderLoad))
	counter(d.rotations, st.KeypairRotations)
	counter(d.endpointChanges, st.EndpointChanges)
	counter(d.keepalives, st.KeepalivesSent)
	counter(d.keys, st.KeyStoreCalls)
	ch <- constHistogram(d.batch, st.DeviceReadBatch, "device_read")
	ch <- constHistogram(d.batch, st.SocketReadBatch, "socket_read")
	if c.opts.Offloads != nil {
		offs := c.opts.Offloads()
		keys := make([]string, 0, len(offs))
		for k := range offs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gauge(d.offload, b2f(offs[k]), strings.ToValidUTF8(k, "\uFFFD"))
		}
	}
}

func (c *Collector) collectPeers(ch chan<- prometheus.Metric, snap *core.Snapshot) {
	d := &c.d

	var byState [3]int
	for i := range snap.Peers {
		if s := snap.Peers[i].State; s >= 0 && int(s) < len(byState) {
			byState[s]++
		}
	}
	for _, s := range []core.PeerState{core.PeerIdle, core.PeerHandshaking, core.PeerEstablished} {
		ch <- prometheus.MustNewConstMetric(d.peers, prometheus.GaugeValue, float64(byState[s]), s.String())
	}

	shown := len(snap.Peers)
	if c.opts.MaxPeers < 0 {
		shown = 0
	} else if shown > c.opts.MaxPeers {
		shown = c.opts.MaxPeers
	}
	omitted := len(snap.Peers) - shown
	ch <- prometheus.MustNewConstMetric(d.peersCapped, prometheus.GaugeValue, b2f(omitted > 0))
	ch <- prometheus.MustNewConstMetric(d.peersOmitted, prometheus.GaugeValue, float64(omitted))

	devKey := ""
	if !snap.PublicKey.IsZero() {
		devKey = keyString(snap.PublicKey)
	}
	ch <- prometheus.MustNewConstMetric(d.deviceInfo, prometheus.GaugeValue, 1, devKey)

	names := c.names.current()
	now := c.opts.Now()
	var allowed strings.Builder
	for i := range snap.Peers[:shown] {
		p := &snap.Peers[i]
		pub := keyString(p.PublicKey)
		name := names[pub]
		endpoint := ""
		if p.Endpoint.IsValid() {
			endpoint = p.Endpoint.String()
		}
		ch <- prometheus.MustNewConstMetric(d.peerInfo, prometheus.GaugeValue, 1, pub, endpoint, name)
		for _, pfx := range p.AllowedIPs {
			ch <- prometheus.MustNewConstMetric(d.peerAllowedIPs, prometheus.GaugeValue, 1,
				pub, pfx.String(), family(pfx))
		}
		ch <- prometheus.MustNewConstMetric(d.peerRxBytes, prometheus.CounterValue, float64(p.RxBytes), pub)
		ch <- prometheus.MustNewConstMetric(d.peerTxBytes, prometheus.CounterValue, float64(p.TxBytes), pub)
		// Whole seconds, as wg(8) shows and the exporters publish; 0 for
		// never (and, as in UAPI, for a time before 1970).
		var last int64
		if !p.LastHandshake.IsZero() {
			last = max(p.LastHandshake.Unix(), 0)
		}
		ch <- prometheus.MustNewConstMetric(d.peerHandshake, prometheus.GaugeValue, float64(last), pub)

		if c.opts.MindFlavor {
			allowed.Reset()
			for j, pfx := range p.AllowedIPs {
				if j > 0 {
					allowed.WriteByte(',')
				}
				allowed.WriteString(pfx.String())
			}
			if allowed.Len() == 0 {
				allowed.WriteString("(none)") // what `wg show dump` prints
			}
			lv := []string{pub, allowed.String(), name}
			ch <- prometheus.MustNewConstMetric(d.mfSent, prometheus.CounterValue, float64(p.TxBytes), lv...)
			ch <- prometheus.MustNewConstMetric(d.mfReceived, prometheus.CounterValue, float64(p.RxBytes), lv...)
			ch <- prometheus.MustNewConstMetric(d.mfHandshake, prometheus.GaugeValue, float64(last), lv...)
			// Like that exporter, a peer that never completed a handshake
			// reports its delay from the epoch: an alert on "delay > N"
			// fires for it, which is what a tunnel that never came up
			// deserves.
			ch <- prometheus.MustNewConstMetric(d.mfDelay, prometheus.GaugeValue, float64(now.Unix()-last), lv...)
		}
	}
}

// constHistogram turns the core's per-bucket counts into Prometheus's
// cumulative ones.
func constHistogram(desc *prometheus.Desc, h core.Histogram, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[b] = cum
	}
	// An observation under way shows in its bucket before it shows in
	// Count; the exposition needs Count to be at least the last bucket.
	count := h.Count
	if count < cum {
		count = cum
	}
	return prometheus.MustNewConstHistogram(desc, count, h.Sum, buckets, labels...)
}

func keyString(k core.PublicKey) string { return k.String() }

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
