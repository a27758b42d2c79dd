// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ping sends count echo requests from ns to addr and fails the test unless
// count replies arrive. ping's -w deadline keeps it resending until count
// replies have come back, so a request lost while the handshake completes
// does not fail the test, and the deadline bounds the whole run.
func Ping(t testing.TB, ns *Netns, addr string, count int) {
	t.Helper()
	// One request per 0.2 s, plus a few seconds for the handshake.
	deadline := 5 + count/5
	out, err := ns.Run("ping", "-n", "-c", fmt.Sprint(count), "-W", "1", "-i", "0.2",
		"-w", fmt.Sprint(deadline), addr)
	if err != nil {
		t.Fatalf("ping %s from %s: %v\n%s", addr, ns.Name, err, out)
	}
}

// iperfPort is the iperf3 port; every server runs in its own namespace.
const iperfPort = "5201"

// IperfResult is what the iperf3 client reports at the end of a run.
type IperfResult struct {
	Gbps        float64 // goodput seen by the receiver
	Retransmits int
	Bytes       uint64
}

// Iperf runs a TCP transfer of secs seconds from client to an iperf3 server
// it starts in server, listening on addr, and fails the test on any iperf3
// error. Both processes are bounded: the server serves one client (-1) and
// is killed when the test ends, the client has a connect timeout and the
// command deadline.
func Iperf(t testing.TB, client, server *Netns, addr string, secs int) IperfResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srvOut := &syncBuffer{}
	srv := server.Command(ctx, "iperf3", "-s", "-1", "-B", addr, "-p", iperfPort)
	srv.Stdout, srv.Stderr = srvOut, srvOut
	if err := srv.Start(); err != nil {
		cancel()
		t.Fatalf("iperf3 server: %v", err)
	}
	srvDone := make(chan struct{})
	go func() { srv.Wait(); close(srvDone) }()
	defer func() {
		cancel()
		<-srvDone
	}()

	Eventually(t, 5*time.Second, "iperf3 server listening on "+addr, func() (bool, string) {
		out, _ := server.Run("ss", "-Hltn", "sport = :"+iperfPort)
		return strings.Contains(out, addr), srvOut.String()
	})

	out, err := runCmd(time.Duration(secs+15)*time.Second, "ip", "netns", "exec", client.Name,
		"iperf3", "-c", addr, "-p", iperfPort, "-t", fmt.Sprint(secs),
		"--connect-timeout", "3000", "-J")
	var report struct {
		Error string `json:"error"`
		End   struct {
			SumSent struct {
				Bytes       uint64 `json:"bytes"`
				Retransmits int    `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				Bytes         uint64  `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if jerr := json.Unmarshal([]byte(out), &report); jerr != nil || err != nil || report.Error != "" {
		t.Fatalf("iperf3 -c %s from %s: %v %s\n%s\nserver:\n%s", addr, client.Name, err, report.Error, out, srvOut)
	}
	if report.End.SumReceived.Bytes == 0 {
		t.Fatalf("iperf3 -c %s: nothing received\n%s", addr, out)
	}
	return IperfResult{
		Gbps:        report.End.SumReceived.BitsPerSecond / 1e9,
		Retransmits: report.End.SumSent.Retransmits,
		Bytes:       report.End.SumReceived.Bytes,
	}
}

// Pinger is a ping running in the background, one request every 0.2 s,
// recording when each reply arrived. It lets a test change the network
// under a live flow and then ask whether replies resumed.
type Pinger struct {
	mu      sync.Mutex
	replies []time.Time
	out     strings.Builder
	done    chan struct{}
}

// StartPinger starts pinging addr from ns until the test ends.
func StartPinger(t testing.TB, ns *Netns, addr string) *Pinger {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := ns.Command(ctx, "ping", "-n", "-i", "0.2", "-W", "1", addr)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	p := &Pinger{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if strings.Contains(line, "bytes from") {
				p.replies = append(p.replies, time.Now())
			}
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-p.done
		if t.Failed() {
			t.Logf("ping %s from %s:\n%s", addr, ns.Name, p.Output())
		}
	})
	return p
}

// RepliesSince counts the replies that arrived after since.
func (p *Pinger) RepliesSince(since time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.replies {
		if r.After(since) {
			n++
		}
	}
	return n
}

// Output is everything ping printed so far.
func (p *Pinger) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}
