// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/noise"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/internal/hostnet"
)

// demo shows wgplex working end to end on one machine, with nothing but
// the binary: two network namespaces joined by a veth pair, a config file
// with fresh keys for each, "wgplex up" inside each, a ping through the
// tunnel (the first one includes the handshake), a TCP transfer through
// it, then "wgplex down" and the namespaces removed. Ping and transfer are
// done here in Go, so that neither ping(8) nor iperf3 is needed.

// The demo's addresses, private to its namespaces.
var (
	demoUnderlay = [2]string{"10.241.0.1", "10.241.0.2"}
	demoTunnel   = [2]string{"10.242.0.1", "10.242.0.2"}
)

const demoPort = 51820

type demo struct {
	ctx    context.Context
	self   string
	dir    string
	secs   int
	ns     [2]string
	ifname [2]string
	conf   [2]string
	made   [2]bool // namespace created
	out    io.Writer
	errw   io.Writer
}

func runDemo(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	secs := 3
	switch {
	case len(args) == 0:
	case len(args) == 2 && args[0] == "--seconds":
		if _, err := fmt.Sscanf(args[1], "%d", &secs); err != nil || secs < 1 || secs > 60 {
			fmt.Fprintf(stderr, "%s demo: --seconds takes 1 to 60\n", progName)
			return 1
		}
	default:
		fmt.Fprintf(stderr, "Usage: %s %s\n", progName, commandUsage("demo"))
		return 1
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(stderr, "%s demo: needs root (network namespaces and /dev/net/tun); try: sudo %s demo\n", progName, os.Args[0])
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "%s demo: %v\n", progName, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pid := os.Getpid()
	d := &demo{ctx: ctx, self: self, secs: secs, out: stdout, errw: stderr}
	for i, side := range []string{"a", "b"} {
		d.ns[i] = fmt.Sprintf("wgplex-demo-%d-%s", pid, side)
		d.ifname[i] = fmt.Sprintf("wgdemo%d%s", pid, side)
	}
	err = d.run()
	if cerr := d.cleanup(); cerr != nil {
		fmt.Fprintf(stderr, "%s demo: cleaning up: %v\n", progName, cerr)
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s demo: %v\n", progName, err)
		return 1
	}
	fmt.Fprintf(stdout, "\ndemo: OK - the namespaces, interfaces and files it made are gone\n")
	return 0
}

func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.out, "\n==> "+format+"\n", args...)
}

func (d *demo) run() error {
	for i := range d.ifname {
		if fileExists(uapi.SocketPath(d.ifname[i])) || hostnet.NetnsExists(d.ns[i]) {
			return fmt.Errorf("%s or %s is already in use", d.ifname[i], d.ns[i])
		}
	}
	dir, err := os.MkdirTemp("", "wgplex-demo-")
	if err != nil {
		return err
	}
	d.dir = dir
	fmt.Fprintf(d.out, "wgplex v%s\n", versionString())

	d.step("two network namespaces, %s and %s, joined by a veth pair (underlay %s <-> %s)",
		d.ns[0], d.ns[1], demoUnderlay[0], demoUnderlay[1])
	if err := d.underlay(); err != nil {
		return err
	}

	d.step("fresh keys and a configuration file for each side")
	if err := d.writeConfigs(); err != nil {
		return err
	}

	d.step("wgplex up in each namespace")
	for i := range d.ns {
		if err := d.inNetns(i, d.self, "up", d.conf[i]); err != nil {
			return err
		}
	}

	d.step("handshake and ping through the tunnel, %s -> %s", demoTunnel[0], demoTunnel[1])
	if err := d.ping(); err != nil {
		return err
	}

	d.step("TCP transfer through the tunnel for %d s", d.secs)
	if err := d.transfer(); err != nil {
		return err
	}

	d.step("wgplex show %s", d.ifname[0])
	runShow([]string{d.ifname[0]}, nil, d.out, d.errw)

	d.step("wgplex down in each namespace")
	for i := range d.ns {
		if err := d.inNetns(i, d.self, "down", d.conf[i]); err != nil {
			return err
		}
	}
	return nil
}

// underlay creates the namespaces and the veth pair between them.
func (d *demo) underlay() error {
	for i := range d.ns {
		if err := hostnet.CreateNetns(d.ns[i]); err != nil {
			return err
		}
		d.made[i] = true
	}
	if err := hostnet.AddVethPair(d.ns[0], "veth0", d.ns[1], "veth0"); err != nil {
		return err
	}
	for i := range d.ns {
		if err := hostnet.LinkUpWithAddress(d.ns[i], "veth0", demoUnderlay[i]+"/24"); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) writeConfigs() error {
	var priv [2]noise.PrivateKey
	for i := range priv {
		k, err := noise.GeneratePrivateKey()
		if err != nil {
			return err
		}
		priv[i] = k
		fmt.Fprintf(d.out, "    %s: public key %s\n", d.ifname[i], k.PublicKey())
	}
	for i := range d.ns {
		o := 1 - i
		pk := priv[i]
		port := uint16(demoPort)
		f := &config.File{
			Interface: config.Interface{PrivateKey: &pk, ListenPort: &port,
				Address: []netip.Prefix{netip.MustParsePrefix(demoTunnel[i] + "/24")}},
			Peers: []config.Peer{{
				PublicKey:  priv[o].PublicKey(),
				AllowedIPs: []netip.Prefix{netip.MustParsePrefix(demoTunnel[o] + "/32")},
				Endpoint:   fmt.Sprintf("%s:%d", demoUnderlay[o], demoPort),
			}},
		}
		d.conf[i] = filepath.Join(d.dir, d.ifname[i]+".conf")
		if err := config.WriteFile(d.conf[i], f); err != nil {
			return err
		}
		clear(pk[:])
	}
	clear(priv[0][:])
	clear(priv[1][:])
	fmt.Fprintf(d.out, "    written to %s\n", d.dir)
	return nil
}

// inNetns runs a command inside namespace i, its output passed through.
func (d *demo) inNetns(i int, argv ...string) error {
	cmd := exec.CommandContext(d.ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = d.out, d.errw
	cmd.WaitDelay = 2 * time.Second
	err := hostnet.InNetns(d.ns[i], cmd.Run)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", filepath.Base(argv[0])+" "+argv[1], d.ns[i], err)
	}
	return nil
}

// ping sends ICMP echo requests from namespace a to b's tunnel address:
// one that waits for the handshake, then five.
func (d *demo) ping() error {
	var conn net.PacketConn
	err := hostnet.InNetns(d.ns[0], func() (err error) {
		conn, err = net.ListenPacket("ip4:icmp", demoTunnel[0])
		return err
	})
	if err != nil {
		return fmt.Errorf("ICMP socket: %w", err)
	}
	defer conn.Close()
	dst := &net.IPAddr{IP: net.ParseIP(demoTunnel[1])}
	id := uint16(os.Getpid())
	rtt, err := echo(d.ctx, conn, dst, id, 0, 8*time.Second) // room for one 5 s handshake retry
	if err != nil {
		return fmt.Errorf("no answer to the first ping: %w", err)
	}
	fmt.Fprintf(d.out, "    first ping answered in %.2f ms (the handshake included)\n", ms(rtt))
	var rtts []time.Duration
	for seq := uint16(1); seq <= 5; seq++ {
		time.Sleep(200 * time.Millisecond)
		rtt, err := echo(d.ctx, conn, dst, id, seq, time.Second)
		if err != nil {
			fmt.Fprintf(d.out, "    ping %d: %v\n", seq, err)
			continue
		}
		rtts = append(rtts, rtt)
	}
	if len(rtts) == 0 {
		return errors.New("no answer to any of 5 pings after the handshake")
	}
	var sum time.Duration
	for _, r := range rtts {
		sum += r
	}
	fmt.Fprintf(d.out, "    5 pings: %d answered, rtt min/avg/max = %.3f/%.3f/%.3f ms\n", len(rtts),
		ms(slices.Min(rtts)), ms(sum/time.Duration(len(rtts))), ms(slices.Max(rtts)))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// echo sends one ICMP echo request and waits for its reply.
func echo(ctx context.Context, conn net.PacketConn, dst *net.IPAddr, id, seq uint16, timeout time.Duration) (time.Duration, error) {
	msg := make([]byte, 8+32)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], seq)
	copy(msg[8:], "wgplex demo ping payload........")
	binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
	start := time.Now()
	if _, err := conn.WriteTo(msg, dst); err != nil {
		return 0, err
	}
	deadline := start.Add(timeout)
	buf := make([]byte, 1500)
	for {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Short reads so that an interrupt is noticed.
		wait := time.Now().Add(200 * time.Millisecond)
		if deadline.Before(wait) {
			wait = deadline
		}
		conn.SetReadDeadline(wait)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Now().Before(deadline) {
				continue
			}
			return 0, err
		}
		ip, ok := from.(*net.IPAddr)
		if n >= 8 && ok && ip.IP.Equal(dst.IP) && buf[0] == 0 &&
			binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return time.Since(start), nil
		}
	}
}

// inetChecksum is the Internet checksum (RFC 1071) of b.
func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// transfer sends data over TCP from a to b through the tunnel for the
// demo's duration and reports what b received.
func (d *demo) transfer() error {
	var ln net.Listener
	err := hostnet.InNetns(d.ns[1], func() (err error) {
		ln, err = net.Listen("tcp4", demoTunnel[1]+":0")
		return err
	})
	if err != nil {
		return err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	var c net.Conn
	err = hostnet.InNetns(d.ns[0], func() (err error) {
		c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(d.ctx, "tcp4", ln.Addr().String())
		return err
	})
	if err != nil {
		return err
	}
	buf := bytes.Repeat([]byte("wgplex!!"), 8192)
	start := time.Now()
	end := start.Add(time.Duration(d.secs) * time.Second)
	c.SetWriteDeadline(end)
	for d.ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			c.Close()
			return err
		}
	}
	c.Close()
	var n int64
	select {
	case n = <-got:
	case <-time.After(10 * time.Second):
		return errors.New("the receiver did not finish")
	}
	if n <= 0 {
		return errors.New("nothing arrived")
	}
	secs := time.Since(start).Seconds()
	fmt.Fprintf(d.out, "    %.1f MiB in %.2f s: %.0f Mbit/s\n", float64(n)/(1<<20), secs, float64(n)*8/secs/1e6)
	return d.ctx.Err()
}

// cleanup removes everything the demo made, whatever point it reached:
// the interfaces (through down, which also stops the daemons), any of our
// processes left in the namespaces, the namespaces, the files.
func (d *demo) cleanup() error {
	var errs []error
	for i := range d.ns {
		if !d.made[i] {
			continue
		}
		if hostnet.StateExists(hostnet.DefaultStateDir, d.ifname[i]) {
			cmd := exec.Command(d.self, "down", d.conf[i])
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			cmd.WaitDelay = 2 * time.Second
			if err := hostnet.InNetns(d.ns[i], cmd.Run); err != nil {
				errs = append(errs, fmt.Errorf("down %s: %v: %s", d.ifname[i], err, out.String()))
			}
		}
		d.stopLeftovers(i)
		os.Remove(uapi.SocketPath(d.ifname[i]))
		if err := hostnet.DeleteNetns(d.ns[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if d.dir != "" {
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopLeftovers ends wgplex processes still in namespace i (a daemon
// whose down failed), by pid: only this binary's, only in our namespace.
func (d *demo) stopLeftovers(i int) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		pids, _ := hostnet.NetnsPids(d.ns[i])
		var ours []int
		for _, pid := range pids {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err == nil && exe == d.self && pid != os.Getpid() {
				ours = append(ours, pid)
			}
		}
		if len(ours) == 0 {
			return
		}
		for _, pid := range ours {
			syscall.Kill(pid, sig)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
