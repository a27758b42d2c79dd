// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/plugins"
)

// The daemon is a few parts around one core.Tunnel. This file is the one
// place that says which parts there are and in which order they start:
//
//	cpu-profile a Go CPU profile of everything below (--cpu-profile)
//	netns       placement of the device in a network namespace (netns-daemon)
//	keyvault    the key vault plugin, before anything can handshake
//	interface   device + bind + tunnel, the vault's key applied, then UAPI
//	discovery   publishes this node's record: the interface has its key
//	metrics     last, over everything the others registered
//
// They stop in reverse order. A part that fails to start stops the parts
// started before it, in reverse, so that nothing is left half started.
// Parts share what they make through daemonEnv, never through package
// variables, so that each can be started in a test against a fake tunnel.

// part is one piece of the daemon.
type part interface {
	// Name names the part in errors ("wgplex: keyvault: ...").
	Name() string
	// Flags declares the part's daemon options.
	Flags(fs *daemonFlagSet)
	// Start starts the part, reading what earlier parts left in env and
	// leaving there what later parts need. It returns how to stop it (nil
	// when there is nothing to stop, e.g. the part is not configured).
	Start(env *daemonEnv) (stop func(), err error)
}

// daemonParts is the daemon's parts in start order around the given
// interface part: tunInterface for the daemon, proxyInterface for wgplex
// proxy.
func daemonParts(iface part) []part {
	return []part{&cpuProfilePart{}, &netnsPart{}, &vaultPart{}, iface, &discoveryPart{}, &metricsPart{}}
}

// daemonEnv is what the parts share. The first block is filled before any
// part starts; the others by the part named, for the parts after it.
type daemonEnv struct {
	// Ifname is the interface name asked for until the interface part
	// starts, then the device's own (macOS picks utun names itself).
	Ifname string
	Log    *slog.Logger
	// Netns is the network namespace the device is created in (wgplex
	// netns-daemon), "" for the daemon's own.
	Netns string
	// Registry collects every Prometheus collector of the daemon; parts
	// add theirs with addCollector whether or not /metrics is served.
	Registry *prometheus.Registry
	// Plugins are the plugins the daemon supervises and what they share.
	Plugins *pluginHost
	// Platform makes the device, the bind and the plugins; a test gives
	// fakes.
	Platform platform

	// Set by netns: runs create with the calling thread in the device's
	// namespace. Nil runs it in place.
	placeDevice func(create func() error) error

	// Set by keyvault: the interface's identity, nil without a vault, and
	// the vault's plugin options, which the discovery signer shares.
	KeyStore     core.KeyStore
	vaultOptions pluginFlags

	// Set by interface.
	Tunnel   *core.Tunnel
	Offloads func() map[string]bool // for wgplex_offload_enabled; nil for none
	// UAPIRemoved is closed when the UAPI socket is removed (nil when
	// there is none).
	UAPIRemoved <-chan struct{}

	regMu sync.Mutex
}

// platform is what the parts get from the system. newPlatform is the
// real one.
type platform struct {
	CreateDevice func(name string, mtu int) (core.Device, error)
	NewBind      func() core.Bind
	SocketDir    string // for the UAPI socket and the discovered-peers list
	// StartKeyVault and StartDiscovery launch the plugins (the plugins
	// package's StartKeyVault and StartDiscovery).
	StartKeyVault  func(plugins.Config) (keyVault, error)
	StartDiscovery func(plugins.Config, plugins.DiscoveryOptions) (runningPlugin, error)
}

// keyVault is a running key vault plugin as the keyvault part uses it.
type keyVault interface {
	core.KeyStore
	runningPlugin
}

// runningPlugin is a plugin the daemon supervises. Plugin may return nil
// (a test's fake), which leaves it out of the UAPI plugin lines.
type runningPlugin interface {
	Plugin() *plugins.Plugin
	Close() error
}

func newPlatform() platform {
	return platform{
		CreateDevice:  createDevice,
		NewBind:       newBind,
		SocketDir:     uapi.DefaultSocketDir,
		StartKeyVault: func(c plugins.Config) (keyVault, error) { return plugins.StartKeyVault(c) },
		StartDiscovery: func(c plugins.Config, o plugins.DiscoveryOptions) (runningPlugin, error) {
			return plugins.StartDiscovery(c, o)
		},
	}
}

// newDaemonEnv is the environment of a daemon for interface ifname.
func newDaemonEnv(ifname string, log *slog.Logger, host *pluginHost, p platform) *daemonEnv {
	return &daemonEnv{Ifname: ifname, Log: log, Registry: prometheus.NewRegistry(), Plugins: host, Platform: p}
}

// addCollector registers c in the daemon's registry; a duplicate
// registration is ignored, so that two parts may both add a shared one
// (the plugin host's series).
func (env *daemonEnv) addCollector(c prometheus.Collector) error {
	env.regMu.Lock()
	defer env.regMu.Unlock()
	if err := env.Registry.Register(c); err != nil {
		var dup prometheus.AlreadyRegisteredError
		if errors.As(err, &dup) {
			return nil
		}
		return err
	}
	return nil
}

// supervise lists p among the plugins the UAPI get reply shows, until the
// returned function is called.
func (env *daemonEnv) supervise(p runningPlugin) func() {
	pl := p.Plugin()
	if pl == nil || env.Plugins == nil {
		return func() {}
	}
	env.Plugins.running.add(pl)
	return func() { env.Plugins.running.remove(pl) }
}

// partError is a part's failure to start, named after the part.
type partError struct {
	part string
	err  error
}

func (e *partError) Error() string { return e.part + ": " + e.err.Error() }
func (e *partError) Unwrap() error { return e.err }

// startParts starts parts in order. On success it returns the function
// that stops them all, in reverse order; on failure it has already
// stopped, in reverse order, those that had started.
func startParts(parts []part, env *daemonEnv) (stop func(), err error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		stops = nil
	}
	for _, p := range parts {
		s, err := p.Start(env)
		if err != nil {
			stopAll()
			return nil, &partError{p.Name(), err}
		}
		if s != nil {
			stops = append(stops, s)
		}
	}
	return stopAll, nil
}

// daemonFlag is a "--name VALUE" option of the daemon, also settable
// through an environment variable (the wg-quick path passes no flags).
type daemonFlag struct {
	name  string
	env   string
	help  string
	value string
}

// daemonFlagSet is the daemon's options, declared by its parts.
type daemonFlagSet struct{ list []*daemonFlag }

// String declares an option and returns where its value will be stored.
func (fs *daemonFlagSet) String(name, env, help string) *string {
	f := &daemonFlag{name: name, env: env, help: help}
	fs.list = append(fs.list, f)
	return &f.value
}

// lookup is the option called name, nil if there is none.
func (fs *daemonFlagSet) lookup(name string) *daemonFlag {
	for _, f := range fs.list {
		if f.name == name {
			return f
		}
	}
	return nil
}

// set sets an option by name.
func (fs *daemonFlagSet) set(name, value string) error {
	f := fs.lookup(name)
	if f == nil {
		return fmt.Errorf("unknown option --%s", name)
	}
	f.value = value
	return nil
}

// fromEnvironment gives each option not set on the command line the value
// of its environment variable.
func (fs *daemonFlagSet) fromEnvironment() {
	for _, f := range fs.list {
		if f.value == "" && f.env != "" {
			f.value = os.Getenv(f.env)
		}
	}
}

// daemon is the parts and their options, ready to parse a command line.
type daemon struct {
	parts []part
	flags *daemonFlagSet
	host  *pluginHost
}

// newDaemon declares the options of the parts around iface (nil: the
// TUN interface).
func newDaemon(iface part) *daemon {
	if iface == nil {
		iface = &tunInterface{}
	}
	d := &daemon{parts: daemonParts(iface), flags: &daemonFlagSet{}, host: newPluginHost()}
	for _, p := range d.parts {
		p.Flags(d.flags)
	}
	d.host.Flags(d.flags)
	return d
}

// start starts the parts for interface ifname in namespace netns ("" for
// this one).
func (d *daemon) start(ifname, netns string, log *slog.Logger) (*daemonEnv, func(), error) {
	env := newDaemonEnv(ifname, log, d.host, newPlatform())
	env.Netns = netns
	stop, err := startParts(d.parts, env)
	return env, stop, err
}

// waitForShutdown blocks until the daemon should stop: SIGINT or SIGTERM,
// the UAPI socket removed, the tunnel closed (logged as closedWhy), or
// done closed (nil: never). The daemon and wgplex proxy stop on the same
// events, so they wait here alike.
func waitForShutdown(log *slog.Logger, env *daemonEnv, closedWhy string, done <-chan struct{}) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	select {
	case s := <-sigs:
		log.Info("Shutting down", "signal", s.String())
	case <-env.UAPIRemoved:
		log.Info("UAPI socket removed, shutting down")
	case <-env.Tunnel.Closed():
		log.Info(closedWhy + ", shutting down")
	case <-done:
	}
}
