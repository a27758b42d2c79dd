// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/aead"
	"github.com/wgplex/wgplex/core/uapi"
)

// defaultMTU is what the device starts with, as the reference daemon does;
// wg-quick sets the real one.
const defaultMTU = 1420

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
// caller such as wg-quick can configure the interface right away. netns
// is the namespace for the device (netns-daemon), "" for this one.
func runDaemon(d *daemon, ifname, netns string, foreground bool, stderr io.Writer) int {
	if !foreground && !isDaemonChild() {
		return daemonize(stderr)
	}
	log := newLogger(ifname, stderr)
	env, stop, err := d.start(ifname, netns, log)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex: %v\n", err)
		return 1
	}
	log.Info("Device started", "version", versionString(), "crypto", env.Tunnel.CryptoMode().String(), "aead", aead.Implementation(), "procs", runtime.GOMAXPROCS(0))
	signalReady()

	waitForShutdown(log, env, "TUN device removed", nil)
	stop()
	log.Info("Shutdown complete")
	return 0
}

// tunInterface is the daemon's interface part: the TUN device (in the
// netns part's namespace if there is one), the UDP bind, the tunnel, the
// key vault's key applied, then the UAPI socket, so that wg(8) finds the
// interface with its identity in place.
type tunInterface struct{}

func (*tunInterface) Name() string         { return "interface" }
func (*tunInterface) Flags(*daemonFlagSet) {}

func (*tunInterface) Start(env *daemonEnv) (func(), error) {
	// WGPLEX_CRYPTO=inline|parallel overrides the choice by CPU count, for
	// machines where the other one measures faster.
	mode, err := core.ParseCryptoMode(os.Getenv("WGPLEX_CRYPTO"))
	if err != nil {
		return nil, fmt.Errorf("WGPLEX_CRYPTO: %v", err)
	}
	// On two CPUs with nothing asked for, one P (procs.go); GOMAXPROCS in
	// the environment overrides.
	applyProcs(os.Getenv("GOMAXPROCS"), mode)
	// WGPLEX_AEAD=generic|avx512 chooses the AEAD implementation
	// (x/crypto's unless avx512).
	aeadMode, err := aead.ParseMode(os.Getenv("WGPLEX_AEAD"))
	if err != nil {
		return nil, fmt.Errorf("WGPLEX_AEAD: %v", err)
	}
	// WGPLEX_ICMP_UNREACHABLE=off stops the ICMP errors answering packets
	// that no peer accepts (on by default, as in the kernel).
	noICMP, err := offSwitch("WGPLEX_ICMP_UNREACHABLE")
	if err != nil {
		return nil, err
	}
	var dev core.Device
	create := func() (err error) {
		dev, err = env.Platform.CreateDevice(env.Ifname, defaultMTU)
		return err
	}
	if env.placeDevice != nil {
		err = env.placeDevice(create)
		if err != nil && dev != nil {
			dev.Close()
		}
	} else {
		err = create()
	}
	if err != nil {
		env.Log.Error("Failed to create TUN device", "err", err)
		return nil, fmt.Errorf("failed to create TUN device %s: %v", env.Ifname, err)
	}
	if l, ok := dev.(interface{ SetLogger(*slog.Logger) }); ok {
		l.SetLogger(env.Log)
	}
	if name, err := dev.Name(); err == nil {
		env.Ifname = name
	}
	bind := env.Platform.NewBind()
	aead.SetMode(aeadMode)
	tun, err := core.NewTunnel(core.Options{Device: dev, Bind: bind, Logger: env.Log, Crypto: mode, NoICMPUnreachable: noICMP})
	if err != nil {
		dev.Close()
		return nil, err
	}
	if err := applyKeyStore(env, tun); err != nil {
		tun.Close()
		return nil, err
	}
	srv, err := uapi.Listen(env.Platform.SocketDir, env.Ifname)
	if err != nil {
		tun.Close()
		return nil, fmt.Errorf("failed to listen on the UAPI socket: %v", err)
	}
	var plugins *pluginRegistry
	if env.Plugins != nil {
		plugins = &env.Plugins.running
	}
	go func() {
		if err := srv.Serve(uapiHandler{tun, plugins}, env.Log); err != nil {
			env.Log.Error("UAPI server stopped", "err", err)
		}
	}()
	env.Tunnel, env.Offloads, env.UAPIRemoved = tun, offloadReporter(dev, bind), srv.Removed()
	return func() {
		srv.Close()
		tun.Close()
		logFinalStats(env.Log, tun.Stats())
	}, nil
}

// applyKeyStore makes the key vault's key (if the keyvault part started
// one) the tunnel's identity.
func applyKeyStore(env *daemonEnv, tun *core.Tunnel) error {
	if env.KeyStore == nil {
		return nil
	}
	if err := tun.Apply(core.Config{KeyStore: env.KeyStore}); err != nil {
		return fmt.Errorf("key vault: %w", err)
	}
	args := []any{"public_key", env.KeyStore.PublicKey().String()}
	if rp, ok := env.KeyStore.(runningPlugin); ok && rp.Plugin() != nil {
		args = append(args, "plugin", rp.Plugin().Name())
	}
	env.Log.Info("Key vault in charge of the static key", args...)
	return nil
}

// offSwitch reads an on/off environment setting that defaults to on: it
// reports whether the variable turns the feature off.
func offSwitch(name string) (bool, error) {
	v := os.Getenv(name)
	if strings.TrimSpace(v) == "" {
		return false, nil
	}
	on, ok := switchValue(v)
	if !ok {
		return false, fmt.Errorf("%s=%q: want on or off", name, v)
	}
	return !on, nil
}

// switchValue reads the words an on/off setting accepts: on, 1, true or
// yes; off, 0, false or no (any case, spaces around ignored). ok is false
// for anything else.
func switchValue(v string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "1", "true", "yes":
		return true, true
	case "off", "0", "false", "no":
		return false, true
	}
	return false, false
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
