// SPDX-License-Identifier: MIT

package interop

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun/tuntest"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/transports/udp"
)

// Inner (tunnelled) addresses: the wgplex side is .1 / ::1, the reference
// side .2 / ::2.
var (
	wgplexInner4 = netip.MustParseAddr("10.99.0.1")
	wgplexInner6 = netip.MustParseAddr("fd99::1")
	refInner4    = netip.MustParseAddr("10.99.0.2")
	refInner6    = netip.MustParseAddr("fd99::2")
)

// waitTimeout bounds every wait that involves only real-time network round
// trips (no protocol timer).
const waitTimeout = 5 * time.Second

// logSink collects one side's log in memory. It is dumped with t.Log when
// the test fails, or always when WGPLEX_INTEROP_LOG is set; writing to t.Log
// directly would race with goroutines that outlive the test.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// maxLog keeps a flood test from growing the log without bound.
const maxLog = 4 << 20

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.Len() < maxLog {
		s.buf.Write(p)
	}
	return len(p), nil
}

func (s *logSink) printf(format string, args ...any) {
	fmt.Fprintf(s, format+"\n", args...)
}

func (s *logSink) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.buf.Bytes(), []byte(sub))
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func newLogSink(t *testing.T, name string) *logSink {
	s := &logSink{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("WGPLEX_INTEROP_LOG") != "" {
			t.Logf("---- %s log ----\n%s", name, s.String())
		}
	})
	return s
}

// wgplexSide is a wgplex tunnel on an in-memory device and the real UDP
// transport.
type wgplexSide struct {
	tun  *core.Tunnel
	dev  *coretest.MemDevice
	key  core.PrivateKey
	pub  core.PublicKey
	port uint16
	log  *logSink
}

// refSide is a wireguard-go device on a channel TUN and its default UDP
// bind.
type refSide struct {
	dev     *device.Device
	tun     *tuntest.ChannelTUN
	inbound chan []byte // packets the device wrote to its TUN
	key     core.PrivateKey
	pub     core.PublicKey
	port    uint16
	log     *logSink
}

func newKey(t testing.TB) core.PrivateKey {
	t.Helper()
	k, err := noise.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Clamped()
}

// newWgplex starts a wgplex tunnel with a fresh key on a kernel-chosen port.
// clock may be nil for the system clock.
func newWgplex(t *testing.T, clock core.Clock) *wgplexSide {
	t.Helper()
	w := &wgplexSide{
		dev: coretest.NewMemDevice("wgplex0", 1420),
		key: newKey(t),
		log: newLogSink(t, "wgplex"),
	}
	w.pub = w.key.PublicKey()
	logger := slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tun, err := core.NewTunnel(core.Options{Device: w.dev, Bind: udp.NewBind(), Clock: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	w.tun = tun
	t.Cleanup(func() { tun.Close() })
	if err := tun.Apply(core.Config{PrivateKey: &w.key}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitTimeout, "wgplex tunnel up and bound", func() bool {
		return tun.IsUp() && tun.Snapshot().ListenPort != 0
	})
	w.port = tun.Snapshot().ListenPort
	return w
}

// newRef starts a wireguard-go device with a fresh key on a kernel-chosen
// port.
func newRef(t *testing.T) *refSide {
	t.Helper()
	r := &refSide{
		tun:     tuntest.NewChannelTUN(),
		inbound: make(chan []byte, 1024),
		key:     newKey(t),
		log:     newLogSink(t, "wireguard-go"),
	}
	r.pub = r.key.PublicKey()
	logger := &device.Logger{
		Verbosef: func(format string, args ...any) { r.log.printf("DEBUG: "+format, args...) },
		Errorf:   func(format string, args ...any) { r.log.printf("ERROR: "+format, args...) },
	}
	r.dev = device.NewDevice(r.tun.TUN(), conn.NewDefaultBind(), logger)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		// The channel TUN blocks the device until each packet is taken.
		defer wg.Done()
		for {
			select {
			case p := <-r.tun.Inbound:
				select {
				case r.inbound <- p:
				default: // nobody is looking: drop, like a busy OS
				}
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() {
		r.dev.Close()
		close(done)
		wg.Wait()
	})
	r.ipcSet(t, fmt.Sprintf("private_key=%s\nlisten_port=0\n", r.key.Hex()))
	if err := r.dev.Up(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, waitTimeout, "wireguard-go bound", func() bool {
		p, _ := strconv.ParseUint(r.get(t)["listen_port"], 10, 16)
		r.port = uint16(p)
		return r.port != 0
	})
	return r
}

func (r *refSide) ipcSet(t *testing.T, conf string) {
	t.Helper()
	if err := r.dev.IpcSet(conf); err != nil {
		t.Fatalf("wireguard-go IpcSet: %v\n%s", err, conf)
	}
}

// ipcGet returns the reference's UAPI "get" answer.
func (r *refSide) ipcGet(t *testing.T) string {
	t.Helper()
	s, err := r.dev.IpcGet()
	if err != nil {
		t.Fatalf("wireguard-go IpcGet: %v", err)
	}
	return s
}

// get parses the UAPI answer into key=value, the last value winning; the
// tests configure at most one peer on the reference.
func (r *refSide) get(t *testing.T) map[string]string {
	t.Helper()
	m := make(map[string]string)
	sc := bufio.NewScanner(strings.NewReader(r.ipcGet(t)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}

// lastHandshake is the reference's last handshake time with its peer, zero
// if none.
func (r *refSide) lastHandshake(t *testing.T) time.Time {
	t.Helper()
	m := r.get(t)
	sec, _ := strconv.ParseInt(m["last_handshake_time_sec"], 10, 64)
	nsec, _ := strconv.ParseInt(m["last_handshake_time_nsec"], 10, 64)
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, nsec)
}

// lastHandshake is wgplex's last handshake time with its only peer.
func (w *wgplexSide) lastHandshake(t *testing.T) time.Time {
	t.Helper()
	s := w.tun.Snapshot()
	if len(s.Peers) != 1 {
		t.Fatalf("wgplex has %d peers, want 1", len(s.Peers))
	}
	return s.Peers[0].LastHandshake
}

// outerAddr is the loopback address of an outer address family.
func outerAddr(ipv6 bool) netip.Addr {
	if ipv6 {
		return netip.IPv6Loopback()
	}
	return netip.MustParseAddr("127.0.0.1")
}

// connect makes each side a peer of the other, with each other's endpoint,
// so that either side can initiate.
func connect(t *testing.T, w *wgplexSide, r *refSide, outer6 bool, psk *core.PresharedKey) {
	t.Helper()
	lo := outerAddr(outer6)
	refEP := netip.AddrPortFrom(lo, r.port)
	if err := w.tun.Apply(core.Config{ReplacePeers: true, Peers: []core.PeerConfig{{
		PublicKey:         r.pub,
		PresharedKey:      psk,
		Endpoint:          &refEP,
		ReplaceAllowedIPs: true,
		AllowedIPs: []core.AllowedIPChange{
			{Prefix: netip.PrefixFrom(refInner4, 32)},
			{Prefix: netip.PrefixFrom(refInner6, 128)},
		},
	}}}); err != nil {
		t.Fatal(err)
	}
	r.ipcSet(t, refPeerConf(w, lo, psk))
}

func refPeerConf(w *wgplexSide, lo netip.Addr, psk *core.PresharedKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "replace_peers=true\npublic_key=%s\n", w.pub.Hex())
	if psk != nil {
		fmt.Fprintf(&b, "preshared_key=%s\n", psk.Hex())
	}
	fmt.Fprintf(&b, "endpoint=%s\n", netip.AddrPortFrom(lo, w.port))
	fmt.Fprintf(&b, "replace_allowed_ips=true\nallowed_ip=%s\nallowed_ip=%s\n",
		netip.PrefixFrom(wgplexInner4, 32), netip.PrefixFrom(wgplexInner6, 128))
	return b.String()
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectPacket waits up to timeout for want to come out of ch, skipping
// anything else.
func expectPacket(t *testing.T, ch <-chan []byte, want []byte, timeout time.Duration, what string) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case got := <-ch:
			if bytes.Equal(got, want) {
				return
			}
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s (%d bytes)", timeout, what, len(want))
		}
	}
}

// wgplexToRef sends one packet from the wgplex side's inner address to the
// reference's and waits up to timeout for the reference to deliver it.
func wgplexToRef(t *testing.T, w *wgplexSide, r *refSide, ipv6 bool, payload string, timeout time.Duration) {
	t.Helper()
	src, dst := wgplexInner4, refInner4
	if ipv6 {
		src, dst = wgplexInner6, refInner6
	}
	pkt := udpPacket(src, dst, 40001, 40002, []byte(payload))
	if !w.dev.Inject(pkt) {
		t.Fatal("wgplex device queue full")
	}
	expectPacket(t, r.inbound, pkt, timeout, fmt.Sprintf("wgplex -> wireguard-go %q from %s", payload, src))
}

// refToWgplex is wgplexToRef the other way.
func refToWgplex(t *testing.T, w *wgplexSide, r *refSide, ipv6 bool, payload string, timeout time.Duration) {
	t.Helper()
	src, dst := refInner4, wgplexInner4
	if ipv6 {
		src, dst = refInner6, wgplexInner6
	}
	pkt := udpPacket(src, dst, 40002, 40001, []byte(payload))
	r.inject(t, pkt)
	expectPacket(t, w.dev.Outbound(), pkt, timeout, fmt.Sprintf("wireguard-go -> wgplex %q from %s", payload, src))
}

// inject hands pkt to the reference as if its OS had routed it into the
// TUN.
func (r *refSide) inject(t *testing.T, pkt []byte) {
	t.Helper()
	select {
	case r.tun.Outbound <- pkt:
	case <-time.After(waitTimeout):
		t.Fatal("wireguard-go did not read its TUN")
	}
}

// udpPacket builds a complete IPv4 or IPv6 UDP datagram with correct
// lengths and checksums.
func udpPacket(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	ulen := 8 + len(payload)
	var pkt, u []byte
	var pseudo []byte
	if src.Is4() {
		pkt = make([]byte, 20+ulen)
		ip := pkt[:20]
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
		ip[8], ip[9] = 64, 17
		s, d := src.As4(), dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^checksum(0, ip))
		u = pkt[20:]
		pseudo = append(append(s[:], d[:]...), 0, 17, byte(ulen>>8), byte(ulen))
	} else {
		pkt = make([]byte, 40+ulen)
		ip := pkt[:40]
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(ulen))
		ip[6], ip[7] = 17, 64
		s, d := src.As16(), dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		u = pkt[40:]
		pseudo = append(append(s[:], d[:]...), 0, 0, byte(ulen>>8), byte(ulen), 0, 0, 0, 17)
	}
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(ulen))
	copy(u[8:], payload)
	sum := ^checksum(checksum(0, pseudo), u)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return pkt
}

// checksum adds b to the ones' complement sum acc (RFC 1071), folded.
func checksum(acc uint16, b []byte) uint16 {
	s := uint32(acc)
	for ; len(b) >= 2; b = b[2:] {
		s += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// canBindIPv6Loopback reports whether [::1] takes a UDP socket here.
func canBindIPv6Loopback() error {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return err
	}
	return c.Close()
}

// requireIPv6Loopback skips the test when [::1] is unusable, except under
// CI where it must work.
func requireIPv6Loopback(t *testing.T) {
	t.Helper()
	if err := canBindIPv6Loopback(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("IPv6 loopback unusable under CI: %v", err)
		}
		t.Skipf("IPv6 loopback unusable: %v", err)
	}
}

// formatSnapshot renders a wgplex snapshot for the test log, without the
// private key.
func formatSnapshot(s core.Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s listen_port=%d fwmark=%d", s.PublicKey, s.ListenPort, s.FwMark)
	for _, p := range s.Peers {
		fmt.Fprintf(&b, "\n  peer %s endpoint=%v psk=%v keepalive=%d last_handshake=%s rx=%d tx=%d allowed=%v",
			p.PublicKey, p.Endpoint, !p.PresharedKey.IsZero(), p.PersistentKeepalive,
			p.LastHandshake.Format(time.RFC3339Nano), p.RxBytes, p.TxBytes, p.AllowedIPs)
	}
	return b.String()
}

// redactPrivate hides the private key in a UAPI answer.
func redactPrivate(uapi string) string {
	lines := strings.Split(strings.TrimRight(uapi, "\n"), "\n")
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, "="); ok && (k == "private_key" || k == "preshared_key") {
			lines[i] = k + "=(redacted)"
		}
	}
	return strings.Join(lines, "\n")
}

// expectStats waits for wgplex's counters to satisfy ok. Counters of sent
// messages move just after the send returns, so the peer may act on a
// message before it is counted.
func (w *wgplexSide) expectStats(t *testing.T, what string, ok func(core.Stats) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := w.tun.Stats()
		if ok(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("wgplex counters: want %s, have %+v", what, st)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until each side has accounted for every byte the other
// sent it: wgplex's peer counters equal the reference's, the other way
// round. wgplex counts received bytes only after it has updated the peer's
// timers for them, which happens just after the packets reach the device;
// a test that moves a fake clock must not run ahead of that.
func settle(t *testing.T, w *wgplexSide, r *refSide) {
	t.Helper()
	var wrx, wtx, rrx, rtx uint64
	deadline := time.Now().Add(waitTimeout)
	for {
		p := w.tun.Snapshot().Peers[0]
		m := r.get(t)
		wrx, wtx = p.RxBytes, p.TxBytes
		rrx, _ = strconv.ParseUint(m["rx_bytes"], 10, 64)
		rtx, _ = strconv.ParseUint(m["tx_bytes"], 10, 64)
		if wrx == rtx && wtx == rrx {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("byte counters disagree: wgplex rx %d tx %d, wireguard-go rx %d tx %d", wrx, wtx, rrx, rtx)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
