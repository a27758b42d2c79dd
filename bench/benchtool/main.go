// SPDX-License-Identifier: MIT

// Command benchtool does the parts of the bench scripts that a shell cannot
// do at a steady rate:
//
//	benchtool flood -to ADDR:PORT -pub KEY [-rate 50000] [-for 10s] [-pool 4096]
//	benchtool sink -listen ADDR:PORT [-for 60s]
//	benchtool forward -tun NAME -listen ADDR:PORT -peer ADDR:PORT   (Linux)
//
// flood sends handshake initiations whose MAC1 is valid for the responder's
// public key and whose other fields are random, paced at -rate packets per
// second. Each one passes the responder's cheap MAC1 check, so it costs the
// responder what a real attacker can make it spend: a cookie reply when it
// considers itself under load, a Diffie-Hellman and a failed decryption of
// the static key otherwise. A pool of distinct messages is built up front
// and sent in turn, so the sender's own CPU (which shares the machine with
// the tunnel under test) stays small. It prints one line:
//
//	sent=N seconds=S pps=P errors=E
//
// sink binds a UDP socket and never reads from it, so that a flood aimed at
// it costs the kernel's whole receive path up to the socket (its buffer
// fills, then every datagram is dropped there) and nothing in user space:
// bench/run.sh --flood-ceiling uses it to tell the kernel's share of a
// flood from the daemon's.
//
// forward is a tunnel without crypto or protocol: TUN to UDP and back, one
// packet per system call (see forwardCmd).
package main

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wgplex/wgplex/core/cookie"
	"github.com/wgplex/wgplex/core/noise"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool flood|sink|forward [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "flood":
		err = floodCmd(os.Args[2:], os.Stdout)
	case "sink":
		err = sinkCmd(os.Args[2:])
	case "forward":
		err = forwardCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q (want flood, sink or forward)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func floodCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("flood", flag.ContinueOnError)
	to := fs.String("to", "", "responder address:port")
	pub := fs.String("pub", "", "responder's public key, base64")
	rate := fs.Int("rate", 50000, "initiations per second")
	dur := fs.Duration("for", 10*time.Second, "how long to flood")
	pool := fs.Int("pool", 4096, "distinct messages to cycle through")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := noise.ParsePublicKey(*pub)
	if err != nil {
		return fmt.Errorf("-pub: %w", err)
	}
	if *to == "" {
		return errors.New("-to is required")
	}
	if *rate <= 0 || *pool <= 0 || *dur <= 0 {
		return errors.New("-rate, -pool and -for must be positive")
	}
	msgs, err := initiations(key, *pool)
	if err != nil {
		return err
	}
	c, err := net.Dial("udp", *to)
	if err != nil {
		return err
	}
	defer c.Close()
	// The bench scripts stop a flood early with SIGTERM; the line with what
	// was sent is still wanted then.
	stop, release := stopSignals()
	defer release()
	st := flood(c, msgs, *rate, *dur, stop)
	fmt.Fprintf(stdout, "sent=%d seconds=%.3f pps=%.0f errors=%d\n",
		st.sent, st.elapsed.Seconds(), float64(st.sent)/st.elapsed.Seconds(), st.errors)
	return nil
}

// stopSignals delivers SIGTERM and SIGINT on stop, which is how the bench
// scripts end a subcommand early, until release is called.
func stopSignals() (stop <-chan os.Signal, release func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, os.Interrupt)
	return c, func() { signal.Stop(c) }
}

func sinkCmd(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ContinueOnError)
	listen := fs.String("listen", "", "address:port to bind")
	dur := fs.Duration("for", time.Minute, "how long to hold the socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listen == "" || *dur <= 0 {
		return errors.New("-listen is required and -for must be positive")
	}
	c, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	defer c.Close()
	stop, release := stopSignals()
	defer release()
	select {
	case <-time.After(*dur):
	case <-stop:
	}
	return nil
}

// initiations returns n handshake initiations to the responder whose static
// public key is pub: message type 1, random sender index, ephemeral key and
// encrypted static and timestamp fields, MAC1 computed as an honest
// initiator would, MAC2 zero (no cookie held).
func initiations(pub noise.PublicKey, n int) ([][]byte, error) {
	gen := cookie.NewGenerator(pub)
	now := time.Now()
	buf := make([]byte, n*noise.InitiationSize)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	msgs := make([][]byte, n)
	for i := range msgs {
		m := buf[i*noise.InitiationSize : (i+1)*noise.InitiationSize : (i+1)*noise.InitiationSize]
		binary.LittleEndian.PutUint32(m, noise.MessageTypeInitiation)
		gen.AddMACs(m, now)
		msgs[i] = m
	}
	return msgs, nil
}

type floodStats struct {
	sent, errors int64
	elapsed      time.Duration
}

// tick is how often the pacer wakes up. At 50,000 pps that is 50 packets a
// wake-up: fine-grained enough that the receiver sees a steady stream rather
// than bursts, coarse enough that the sender does not spin a core.
const tick = time.Millisecond

// due returns how many packets should have been sent after elapsed at rate
// packets per second.
func due(elapsed time.Duration, rate int) int64 {
	if elapsed <= 0 {
		return 0
	}
	return int64(float64(rate) * elapsed.Seconds())
}

// flood writes msgs in turn to w at rate packets per second for dur, or
// until something arrives on stop. A
// sender that falls behind (a descheduled thread on a busy machine) catches
// up at most one second's worth at once, so the offered load never bursts
// far above the rate asked for.
func flood[T any](w io.Writer, msgs [][]byte, rate int, dur time.Duration, stop <-chan T) floodStats {
	var st floodStats
	start := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	next := 0
	var skipped int64
	for {
		elapsed := time.Since(start)
		if elapsed >= dur {
			elapsed = dur
		}
		target := due(elapsed, rate) - skipped
		if done := st.sent + st.errors; target-done > int64(rate) {
			// Forget the backlog beyond one second rather than burst it.
			skipped += target - done - int64(rate)
			target = done + int64(rate)
		}
		for st.sent+st.errors < target {
			// Write errors are expected (ICMP refusals while the target
			// restarts, a full socket buffer); the flood goes on.
			if _, err := w.Write(msgs[next]); err != nil {
				st.errors++
			} else {
				st.sent++
			}
			next = (next + 1) % len(msgs)
		}
		if elapsed >= dur {
			st.elapsed = time.Since(start)
			return st
		}
		select {
		case <-t.C:
		case <-stop:
			st.elapsed = time.Since(start)
			return st
		}
	}
}
