// SPDX-License-Identifier: MIT

package core_test

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/coretest"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The debug messages operators know from wg(4) and wireguard-go exist, name
// the peer by its short key, are rate-limited, and never contain a key.
func TestDebugMessagesAndRateLimit(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := coretest.NewFakeClock(epoch)
	nw := coretest.NewMemNetwork()
	dev := coretest.NewMemDevice("wgt", 1420)
	tun, err := core.NewTunnel(core.Options{Device: dev, Bind: nw.NewBind(netip.MustParseAddr("192.0.2.1")), Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	key := mustKey(t)
	ghost := mustKey(t).PublicKey()
	nowhere := netip.MustParseAddrPort("192.0.2.9:9")
	if err := tun.Apply(core.Config{PrivateKey: &key, Peers: []core.PeerConfig{{PublicKey: ghost, Endpoint: &nowhere,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.9.0.0/16")}}}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up", tun.IsUp)
	dev.Inject(ipPacket(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.9.0.1"), []byte("x")))
	waitFor(t, "initiation", func() bool { return tun.Stats().InitiationsSent == 1 })
	clock.Advance(core.RekeyTimeout + core.RekeyTimeoutJitterMax)
	want := "Handshake for peer " + ghost.Short() + " did not complete after 5 seconds, retrying (try 2)"
	waitFor(t, "retry message", func() bool { return strings.Contains(buf.String(), want) })

	// A flood of one message is cut to its per-second budget.
	evil := nw.NewBind(netip.MustParseAddr("192.0.2.66"))
	if _, _, err := evil.Open(666); err != nil {
		t.Fatal(err)
	}
	ep, _ := evil.ParseEndpoint("192.0.2.1:" + itoa(tun.Snapshot().ListenPort))
	bad := make([]byte, 148)
	bad[0] = 1
	for i := 0; i < 200; i++ {
		evil.Send([][]byte{bad}, ep)
	}
	waitFor(t, "drops", func() bool { return tun.Stats().Drops[core.DropHandshake] >= 200 })
	if n := strings.Count(buf.String(), "Invalid initiation MAC from 192.0.2.66:666"); n == 0 || n > 10 {
		t.Fatalf("%d 'Invalid initiation MAC' lines for 200 bad packets in one second, want 1..10", n)
	}
	clock.Advance(time.Second)
	for _, k := range []string{key.Base64(), key.Hex()} {
		if strings.Contains(buf.String(), k) {
			t.Fatal("private key in the log")
		}
	}
}

func itoa(v uint16) string { return strconv.Itoa(int(v)) }
