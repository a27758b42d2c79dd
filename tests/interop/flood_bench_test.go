// SPDX-License-Identifier: MIT

package interop

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/transports/udp"
)

// BenchmarkFloodOverUDP floods a wgplex tunnel on the real UDP transport
// (loopback) with initiations that carry a valid MAC1 and nothing else,
// the tunnel held under load, and reports the process's CPU time per flood
// datagram: the tunnel's receive, checks, cookie replies and their sends,
// plus the flooder's own batched sends and receives (recvmmsg/sendmmsg, a
// small share). Unlike core's in-memory BenchmarkHandshakeFlood, the
// system calls here are real.
func BenchmarkFloodOverUDP(b *testing.B) {
	key := newKey(b)
	tun, err := core.NewTunnel(core.Options{Device: coretest.NewMemDevice("wgflood", 1420), Bind: udp.NewBind()})
	if err != nil {
		b.Fatal(err)
	}
	defer tun.Close()
	if err := tun.Apply(core.Config{PrivateKey: &key}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !tun.IsUp() || tun.Snapshot().ListenPort == 0 {
		if time.Now().After(deadline) {
			b.Fatal("tunnel not up")
		}
		time.Sleep(time.Millisecond)
	}
	tun.SetUnderLoad(true)
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(tun.Snapshot().ListenPort)}

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(4 << 20)
	pc := ipv4.NewPacketConn(conn)

	// Replies are read in batches and counted.
	var replies atomic.Int64
	go func() {
		msgs := make([]ipv4.Message, 64)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, 256)}
		}
		for {
			n, err := pc.ReadBatch(msgs, 0)
			if err != nil {
				return
			}
			replies.Add(int64(n))
		}
	}()

	gen := cookie.NewGenerator(key.PublicKey())
	const batch = 64
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		m := make([]byte, noise.InitiationSize)
		rand.Read(m)
		binary.LittleEndian.PutUint32(m[0:4], noise.MessageTypeInitiation)
		gen.AddMACs(m, time.Now())
		msgs[i] = ipv4.Message{Buffers: [][]byte{m}, Addr: to}
	}
	// One round: a batch, then wait until the tunnel has handled it (or
	// 100 ms), so that nothing is lost to a full socket buffer and each
	// datagram counted was handled. Handled is counted by the tunnel, not
	// by the replies: under load a source gets cookie replies only at its
	// rate limit.
	handled := func() uint64 { return tun.Stats().InitiationsInvalid }
	round := func(want uint64) int {
		n, err := pc.WriteBatch(msgs, 0)
		if err != nil {
			b.Fatal(err)
		}
		until := time.Now().Add(100 * time.Millisecond)
		for handled() < want+uint64(n) && time.Now().Before(until) {
			time.Sleep(50 * time.Microsecond)
		}
		return n
	}
	for range 16 {
		round(handled())
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	r0, s0 := replies.Load(), tun.Stats()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		sent += round(handled())
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	sys := ru1.Stime.Nano() - ru0.Stime.Nano()
	s1 := tun.Stats()
	b.ReportMetric(float64(cpu)/float64(sent), "cpu-ns/dgram")
	b.ReportMetric(float64(sys)/float64(sent), "sys-ns/dgram")
	b.ReportMetric(float64(replies.Load()-r0)/float64(sent), "replies/dgram")
	b.ReportMetric(float64(s1.CookieRepliesSent-s0.CookieRepliesSent)/float64(sent), "answered/dgram")
}
