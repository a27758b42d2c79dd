// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/noise"
)

func responderKey(t *testing.T) noise.PublicKey {
	t.Helper()
	priv, err := noise.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return priv.PublicKey()
}

// The responder's own checker must accept every message's MAC1 (that is the
// point of the flood), and the messages must differ from one another.
func TestInitiationsPassMAC1(t *testing.T) {
	pub := responderKey(t)
	msgs, err := initiations(pub, 64)
	if err != nil {
		t.Fatal(err)
	}
	chk := cookie.NewChecker()
	chk.SetLocalPublicKey(pub)
	src := cookie.AppendSource(nil, netip.MustParseAddrPort("10.0.0.1:1234"))
	seen := map[string]bool{}
	for i, m := range msgs {
		if len(m) != noise.InitiationSize {
			t.Fatalf("message %d: %d bytes, want %d", i, len(m), noise.InitiationSize)
		}
		if typ, ok := noise.MessageType(m); !ok || typ != noise.MessageTypeInitiation {
			t.Fatalf("message %d: type %d ok=%v", i, typ, ok)
		}
		if v := chk.Check(m, src, false, time.Now()); v != cookie.VerdictMAC1Valid {
			t.Fatalf("message %d: verdict %v, want valid MAC1", i, v)
		}
		seen[string(m)] = true
	}
	if len(seen) != len(msgs) {
		t.Fatalf("%d distinct messages of %d", len(seen), len(msgs))
	}
	// A different responder must reject them: the MAC is bound to the key.
	other := cookie.NewChecker()
	other.SetLocalPublicKey(responderKey(t))
	if v := other.Check(msgs[0], src, false, time.Now()); v != cookie.VerdictInvalid {
		t.Fatalf("other responder: verdict %v, want invalid", v)
	}
}

func TestDue(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rate int
		want int64
	}{
		{0, 50000, 0},
		{-time.Second, 50000, 0},
		{time.Millisecond, 50000, 50},
		{time.Second, 50000, 50000},
		{1500 * time.Millisecond, 1000, 1500},
	} {
		if got := due(c.d, c.rate); got != c.want {
			t.Errorf("due(%v, %d) = %d, want %d", c.d, c.rate, got, c.want)
		}
	}
}

type countWriter struct {
	n    int64
	last []byte
}

func (w *countWriter) Write(b []byte) (int, error) {
	w.n++
	w.last = b
	return len(b), nil
}

// The pacer sends what the rate asks for over the duration, cycling the
// pool, and never more than one second's worth beyond it.
func TestFloodCount(t *testing.T) {
	msgs := [][]byte{{1}, {2}, {3}}
	w := &countWriter{}
	st := flood(w, msgs, 2000, 100*time.Millisecond, make(chan struct{}))
	if st.sent != w.n || st.errors != 0 {
		t.Fatalf("stats %+v, writer saw %d", st, w.n)
	}
	// The last tick sends up to exactly rate*dur; only a run starved for
	// the whole duration could send less than that, so the bound is exact
	// from above and loose from below.
	if st.sent > 200 || st.sent < 1 {
		t.Fatalf("sent %d packets, want 1..200 (2000 pps for 100 ms)", st.sent)
	}
	if want := msgs[(st.sent-1)%3]; !bytes.Equal(w.last, want) {
		t.Fatalf("last message %v, want %v", w.last, want)
	}
}

// End to end over a real UDP socket: the line printed is parseable and the
// packets that arrive are initiations.
func TestFloodCmd(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback UDP: %v", err)
	}
	defer pc.Close()
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, 2048)
		n, _, err := pc.ReadFrom(buf)
		if err == nil {
			got <- buf[:n]
		}
	}()
	var out strings.Builder
	args := []string{"-to", pc.LocalAddr().String(), "-pub", responderKey(t).String(),
		"-rate", "500", "-for", "50ms", "-pool", "8"}
	if err := floodCmd(args, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "sent=") || !strings.Contains(out.String(), " pps=") {
		t.Fatalf("output %q", out.String())
	}
	select {
	case m := <-got:
		if len(m) != noise.InitiationSize || binary.LittleEndian.Uint32(m) != noise.MessageTypeInitiation {
			t.Fatalf("received %d bytes of type %d", len(m), binary.LittleEndian.Uint32(m))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no packet arrived within 10 s")
	}
}

// A stop ends the flood long before its duration.
func TestFloodStop(t *testing.T) {
	stop := make(chan struct{})
	close(stop)
	w := &countWriter{}
	st := flood(w, [][]byte{{1}}, 1000, time.Hour, stop)
	if st.elapsed >= time.Hour || st.sent != w.n {
		t.Fatalf("stats %+v, writer saw %d", st, w.n)
	}
}

func TestFloodCmdBadFlags(t *testing.T) {
	key := responderKey(t).String()
	for _, args := range [][]string{
		{"-to", "127.0.0.1:9", "-pub", "not-a-key"},
		{"-pub", key},
		{"-to", "127.0.0.1:9", "-pub", key, "-rate", "0"},
		{"-to", "127.0.0.1:9", "-pub", key, "-pool", "-1"},
		{"-nosuchflag"},
	} {
		var out strings.Builder
		if err := floodCmd(args, &out); err == nil {
			t.Errorf("floodCmd(%q) succeeded", args)
		}
	}
}

// sink holds its socket for -for and refuses a missing address.
func TestSinkCmd(t *testing.T) {
	if err := sinkCmd([]string{"-for", "10ms"}); err == nil {
		t.Fatal("sink without -listen: no error")
	}
	if err := sinkCmd([]string{"-listen", "127.0.0.1:0", "-for", "10ms"}); err != nil {
		t.Fatal(err)
	}
}
