// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/aead"
	"github.com/wgplex/wgplex/core/uapi"
)

// defaultMTU is what the device starts with, as the reference daemon does;
// wg-quick sets the real one.
const defaultMTU = 1420

// daemonEnv is what a daemon extension (metrics, plugins, ...) gets to work
// with once the tunnel exists.
type daemonEnv struct {
	Ifname string
	Tunnel *core.Tunnel
	Log    *slog.Logger
}

// daemonStarter starts one optional part of the daemon. It runs after the
// tunnel is created and before the UAPI socket opens, so that, e.g., a key
// vault is in charge before wg(8) can talk to the interface. It returns a
// function that stops it; an error aborts the start.
type daemonStarter struct {
	name  string
	start func(env *daemonEnv) (stop func(), err error)
}

var daemonStarters []daemonStarter

func registerDaemonStarter(name string, start func(env *daemonEnv) (stop func(), err error)) {
	daemonStarters = append(daemonStarters, daemonStarter{name, start})
}

// newLogger maps LOG_LEVEL (the variable wireguard-go users already set)
// onto slog levels.
func newLogger(ifname string, w io.Writer) *slog.Logger {
	level := slog.LevelError
	switch strings.ToLower(os.Getenv("LOG_LEVEL")) {
	case "verbose", "debug":
		level = slog.LevelDebug
	case "silent":
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("interface", ifname)
}

// runDaemon runs the interface until a signal, the removal of its device,
// or the removal of its UAPI socket. Unless foreground, it first detaches
// into the background and returns once the child is ready, so that a
// caller such as wg-quick can configure the interface right away.
func runDaemon(ifname string, foreground bool, stderr io.Writer) int {
	if !foreground && !isDaemonChild() {
		return daemonize(stderr)
	}
	log := newLogger(ifname, stderr)
	dev, err := createDevice(ifname, defaultMTU)
	if err != nil {
		log.Error("Failed to create TUN device", "err", err)
		fmt.Fprintf(stderr, "wgplex: failed to create TUN device %s: %v\n", ifname, err)
		return 1
	}
	if l, ok := dev.(interface{ SetLogger(*slog.Logger) }); ok {
		l.SetLogger(log)
	}
	name, err := dev.Name()
	if err != nil {
		name = ifname
	}
	bind := newBind()
	metricsOffloads = offloadReporter(dev, bind)
	// WGPLEX_CRYPTO=inline|parallel overrides the choice by CPU count, for
	// machines where the other one measures faster.
	mode, err := core.ParseCryptoMode(os.Getenv("WGPLEX_CRYPTO"))
	if err != nil {
		dev.Close()
		fmt.Fprintf(stderr, "wgplex: WGPLEX_CRYPTO: %v\n", err)
		return 1
	}
	// WGPLEX_AEAD=generic|avx512 chooses the AEAD implementation.
	aeadMode, err := aead.ParseMode(os.Getenv("WGPLEX_AEAD"))
	if err != nil {
		dev.Close()
		fmt.Fprintf(stderr, "wgplex: WGPLEX_AEAD: %v\n", err)
		return 1
	}
	aead.SetMode(aeadMode)
	// WGPLEX_ICMP_UNREACHABLE=off stops the ICMP errors answering packets
	// that no peer accepts (on by default, as in the kernel).
	noICMP, err := offSwitch("WGPLEX_ICMP_UNREACHABLE")
	if err != nil {
		dev.Close()
		fmt.Fprintf(stderr, "wgplex: %v\n", err)
		return 1
	}
	tun, err := core.NewTunnel(core.Options{Device: dev, Bind: bind, Logger: log, Crypto: mode, NoICMPUnreachable: noICMP})
	if err != nil {
		dev.Close()
		fmt.Fprintf(stderr, "wgplex: %v\n", err)
		return 1
	}
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	env := &daemonEnv{Ifname: name, Tunnel: tun, Log: log}
	for _, s := range daemonStarters {
		stop, err := s.start(env)
		if err != nil {
			stopAll()
			tun.Close()
			fmt.Fprintf(stderr, "wgplex: %s: %v\n", s.name, err)
			return 1
		}
		if stop != nil {
			stops = append(stops, stop)
		}
	}
	srv, err := uapi.Listen(uapi.DefaultSocketDir, name)
	if err != nil {
		stopAll()
		tun.Close()
		fmt.Fprintf(stderr, "wgplex: failed to listen on the UAPI socket: %v\n", err)
		return 1
	}
	go func() {
		if err := srv.Serve(uapiHandler{tun}, log); err != nil {
			log.Error("UAPI server stopped", "err", err)
		}
	}()
	log.Info("Device started", "version", versionString(), "crypto", tun.CryptoMode().String())
	signalReady()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sigs:
		log.Info("Shutting down", "signal", s.String())
	case <-srv.Removed():
		log.Info("UAPI socket removed, shutting down")
	case <-tun.Closed():
		log.Info("TUN device removed, shutting down")
	}
	srv.Close()
	stopAll()
	tun.Close()
	logFinalStats(log, tun.Stats())
	log.Info("Shutdown complete")
	return 0
}

// offSwitch reads an on/off environment setting that defaults to on: it
// reports whether the variable turns the feature off.
func offSwitch(name string) (bool, error) {
	switch v := strings.ToLower(os.Getenv(name)); v {
	case "", "on", "1", "true", "yes":
		return false, nil
	case "off", "0", "false", "no":
		return true, nil
	default:
		return false, fmt.Errorf("%s=%q: want on or off", name, v)
	}
}

// logFinalStats records the interface counters at shutdown, so that a run
// without /metrics still leaves a trace of what was dropped and why.
func logFinalStats(log *slog.Logger, s core.Stats) {
	args := []any{"rx_packets", s.RxPackets, "tx_packets", s.TxPackets, "handshakes", s.HandshakesCompleted}
	for _, r := range core.DropReasons() {
		if n := s.Drops[r]; n > 0 {
			args = append(args, "drop_"+r.String(), n)
		}
	}
	log.Info("Final counters", args...)
}

// offloadReporter merges what the device and the transport report about
// their offloads (TSO, GRO, UDP GSO, ...) for wgplex_offload_enabled. Ports
// that have none to report are skipped.
func offloadReporter(parts ...any) func() map[string]bool {
	type reporter interface{ Offloads() map[string]bool }
	var rs []reporter
	for _, p := range parts {
		if r, ok := p.(reporter); ok {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return func() map[string]bool {
		out := map[string]bool{}
		for _, r := range rs {
			for k, v := range r.Offloads() {
				out[k] = v
			}
		}
		return out
	}
}
