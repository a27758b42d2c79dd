// SPDX-License-Identifier: MIT

// Command proxyload measures TCP through a SOCKS5 proxy, for
// bench/proxy.sh. "proxyload serve ADDR" is the far end: a connection
// that starts with 'D' gets zeros until it closes, one that starts with
// 'P' gets every byte echoed. "proxyload run" is the client: it measures
// download throughput for a number of seconds, then round-trip times of
// one-byte pings on one connection and the time to open a connection
// through the proxy, and prints one line: "mbit=... rtt_p50_us=...
// rtt_p99_us=... connect_p50_us=...".
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"
)

func main() {
	if len(os.Args) >= 3 && os.Args[1] == "serve" {
		if err := serve(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "proxyload:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: proxyload serve ADDR | proxyload run -socks ADDR -target IP:PORT [-secs N] [-pings N] [-connects N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	socks := fs.String("socks", "", "SOCKS5 proxy address")
	target := fs.String("target", "", "the serve end, as the proxy reaches it")
	secs := fs.Float64("secs", 5, "seconds of download")
	pings := fs.Int("pings", 1000, "one-byte round trips")
	connects := fs.Int("connects", 50, "connections opened for the set-up time")
	fs.Parse(os.Args[2:])
	if err := run(*socks, *target, time.Duration(*secs*float64(time.Second)), *pings, *connects); err != nil {
		fmt.Fprintln(os.Stderr, "proxyload:", err)
		os.Exit(1)
	}
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	zeros := make([]byte, 128<<10)
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			var cmd [1]byte
			if _, err := io.ReadFull(c, cmd[:]); err != nil {
				return
			}
			switch cmd[0] {
			case 'D':
				for {
					if _, err := c.Write(zeros); err != nil {
						return
					}
				}
			case 'P':
				io.Copy(c, c)
			}
		}()
	}
}

// dial opens a connection to target through the SOCKS5 proxy.
func dial(socks string, target netip.AddrPort) (net.Conn, error) {
	c, err := net.Dial("tcp", socks)
	if err != nil {
		return nil, err
	}
	a := target.Addr().As4()
	req := []byte{5, 1, 0, 5, 1, 0, 1}
	req = append(req, a[:]...)
	req = binary.BigEndian.AppendUint16(req, target.Port())
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	var rep [12]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		c.Close()
		return nil, err
	}
	if rep[1] != 0 || rep[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("SOCKS5 refused: % x", rep)
	}
	return c, nil
}

func run(socks, target string, secs time.Duration, pings, connects int) error {
	tgt, err := netip.ParseAddrPort(target)
	if err != nil || !tgt.Addr().Is4() {
		return errors.New("-target must be IPv4:port")
	}
	// Throughput: one stream, everything read counted after a warm-up.
	c, err := dial(socks, tgt)
	if err != nil {
		return err
	}
	c.Write([]byte{'D'})
	buf := make([]byte, 256<<10)
	warm := time.Now().Add(time.Second)
	for time.Now().Before(warm) {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
	var n int64
	start := time.Now()
	for time.Since(start) < secs {
		k, err := c.Read(buf)
		if err != nil {
			return err
		}
		n += int64(k)
	}
	mbit := float64(n*8) / time.Since(start).Seconds() / 1e6
	c.Close()

	// Latency: one-byte ping-pong on one connection.
	c, err = dial(socks, tgt)
	if err != nil {
		return err
	}
	c.Write([]byte{'P'})
	rtts := make([]time.Duration, 0, pings)
	b := []byte{1}
	for i := 0; i < pings; i++ {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		rtts = append(rtts, time.Since(t0))
	}
	c.Close()

	// Connection set-up: SOCKS5 handshake plus the TCP handshake inside
	// the tunnel, to the first echoed byte.
	sets := make([]time.Duration, 0, connects)
	for i := 0; i < connects; i++ {
		t0 := time.Now()
		c, err := dial(socks, tgt)
		if err != nil {
			return err
		}
		c.Write([]byte{'P', 1})
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		sets = append(sets, time.Since(t0))
		c.Close()
	}
	fmt.Printf("mbit=%.0f rtt_p50_us=%d rtt_p99_us=%d connect_p50_us=%d\n",
		mbit, pct(rtts, 50).Microseconds(), pct(rtts, 99).Microseconds(), pct(sets, 50).Microseconds())
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
