// SPDX-License-Identifier: MIT

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wgplex/wgplex/backends/netstack"
	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/aead"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/proxy"
	"github.com/wgplex/wgplex/proxy/proxyconf"
)

// "wgplex proxy CONF" runs a tunnel without root: the interface is a
// user-space TCP/IP stack (backends/netstack), and the host's programs
// reach it through the SOCKS5 and HTTP proxies and port forwards the file
// asks for. The daemon's parts (key vault, metrics) start as for a TUN
// interface; the UAPI socket goes where this user may create it (see
// runtimedir.go).

// proxyArgs is the command line of "wgplex proxy".
type proxyArgs struct {
	conf       string
	name       string
	configTest bool
}

// parseProxyArgs reads the command line; daemon options go into flags.
func parseProxyArgs(args []string, flags *daemonFlagSet) (proxyArgs, error) {
	var a proxyArgs
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-n" || arg == "--configtest":
			a.configTest = true
			continue
		case strings.HasPrefix(arg, "--"):
			name, value, hasValue := strings.Cut(arg[2:], "=")
			if !hasValue {
				if i+1 >= len(args) {
					return a, fmt.Errorf("option --%s needs a value", name)
				}
				i++
				value = args[i]
			}
			if name == "name" {
				a.name = value
				continue
			}
			if err := flags.set(name, value); err != nil {
				return a, err
			}
			continue
		case strings.HasPrefix(arg, "-") && arg != "-":
			return a, fmt.Errorf("unknown option %s", arg)
		}
		if a.conf != "" {
			return a, errors.New("more than one configuration file")
		}
		a.conf = arg
	}
	if a.conf == "" {
		return a, errors.New("no configuration file")
	}
	if a.name == "" {
		// As wg-quick names an interface after its file.
		a.name = strings.TrimSuffix(filepath.Base(a.conf), filepath.Ext(a.conf))
	}
	if a.name == "" || a.name == "." || a.name == ".." || strings.ContainsAny(a.name, "/\\\x00") || len(a.name) > 64 {
		return a, fmt.Errorf("invalid interface name %q (use --name)", a.name)
	}
	return a, nil
}

// readProxyConfig reads and parses the file. WGConfig is taken as written
// (relative to the working directory, as wireproxy takes it) and, if not
// found so, relative to the configuration file.
func readProxyConfig(path string) (*proxyconf.File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	return proxyconf.Parse(path, data, proxyconf.Options{
		LookupEnv: os.LookupEnv,
		ReadFile: func(p string) ([]byte, error) {
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(p) {
				if b2, err2 := os.ReadFile(filepath.Join(filepath.Dir(path), p)); err2 == nil {
					return b2, nil
				}
			}
			return b, err
		},
	})
}

func runProxy(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	iface := &proxyInterface{stdin: stdin, stdout: stdout, stderr: stderr}
	d := newDaemon(iface)
	a, err := parseProxyArgs(args, d.flags)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex proxy: %v\n", err)
		fmt.Fprintf(stderr, "Usage: wgplex %s\n", commandUsage("proxy"))
		return 2
	}
	d.flags.fromEnvironment()
	vault := d.flags.lookup("keyvault").value != ""
	cfg, err := readProxyConfig(a.conf)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex proxy: %v\n", err)
		return 1
	}
	defer cfg.Wipe()
	if len(cfg.WG.Interface.Address) == 0 {
		fmt.Fprintf(stderr, "wgplex proxy: %s: [Interface] has no Address; the tunnel needs one of its own\n", cfg.Name)
		return 1
	}
	if in := cfg.WG.Interface; in.Table != "" || in.SaveConfig || len(in.PreUp)+len(in.PostUp)+len(in.PreDown)+len(in.PostDown) > 0 {
		// Nothing on the host changes, so there is nothing for these to do.
		fmt.Fprintf(stderr, "wgplex proxy: %s: Table, SaveConfig and the Up/Down hooks are ignored without a host interface\n", cfg.Name)
	}
	if cfg.WG.Interface.PrivateKey == nil && !vault {
		fmt.Fprintf(stderr, "wgplex proxy: %s: [Interface] has no PrivateKey and no --keyvault holds one\n", cfg.Name)
		return 1
	}
	change, err := cfg.WG.SetConf(nil)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex proxy: %v\n", err)
		return 1
	}
	if a.configTest {
		fmt.Fprintf(stdout, "%s: configuration OK\n", cfg.Name)
		return 0
	}
	if vault {
		// The vault is the identity; a key in the file would be refused.
		change.PrivateKey = nil
	}
	iface.cfg, iface.change = cfg, change
	return serveProxy(d, a.name, iface)
}

// serveProxy runs the daemon's parts around the proxy interface until a
// signal, the removal of the UAPI socket or the end of a STDIOTunnel.
func serveProxy(d *daemon, name string, iface *proxyInterface) int {
	log := newLogger(name, iface.stderr)
	env, stop, err := d.start(name, "", log)
	if err != nil {
		fmt.Fprintf(iface.stderr, "wgplex proxy: %v\n", err)
		return 1
	}
	// These lines tell the user (and a script) where everything is, once
	// every part runs; the listen port matters when the file leaves it to
	// the system.
	fmt.Fprintf(iface.stderr, "wgplex proxy: interface %s, UDP port %d, UAPI socket %s\n", env.Ifname, env.Tunnel.Snapshot().ListenPort, iface.sockPath)
	for _, l := range iface.set.Listening() {
		fmt.Fprintf(iface.stderr, "wgplex proxy: %s on %s\n", l.Kind, l.Addr)
	}
	log.Info("Proxy started", "version", version)
	waitForShutdown(log, env, "Tunnel closed", iface.stdioDone)
	stop()
	return 0
}

// proxyInterface is the interface part of wgplex proxy: a netstack
// device, the tunnel with the key vault's key or the file's, the file's
// configuration, the UAPI socket where this user may create one, and the
// proxies and forwards the file asks for.
type proxyInterface struct {
	cfg            *proxyconf.File
	change         core.Config
	stdin          io.Reader
	stdout, stderr io.Writer
	stdioDone      chan struct{} // closed when the STDIOTunnel ends; nil without one
	// set by Start: the proxies, and where the UAPI socket is
	set      *proxy.Set
	sockPath string
}

func (*proxyInterface) Name() string         { return "interface" }
func (*proxyInterface) Flags(*daemonFlagSet) {}

func (p *proxyInterface) Start(env *daemonEnv) (_ func(), err error) {
	cfg, name, log := p.cfg, env.Ifname, env.Log
	dev, err := netstack.New(netstack.Options{
		Name:      name,
		Addresses: cfg.WG.Interface.Address,
		DNS:       cfg.WG.Interface.DNS,
		MTU:       cfg.WG.Interface.MTU,
	})
	if err != nil {
		return nil, err
	}
	mode, err := core.ParseCryptoMode(os.Getenv("WGPLEX_CRYPTO"))
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("WGPLEX_CRYPTO: %v", err)
	}
	// WGPLEX_AEAD=generic|avx512 chooses the AEAD implementation
	// (x/crypto's unless avx512).
	aeadMode, err := aead.ParseMode(os.Getenv("WGPLEX_AEAD"))
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("WGPLEX_AEAD: %v", err)
	}
	aead.SetMode(aeadMode)
	bind := env.Platform.NewBind()
	tun, err := core.NewTunnel(core.Options{Device: dev, Bind: bind, Logger: log, Crypto: mode})
	if err != nil {
		dev.Close()
		return nil, err
	}
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		tun.Close()
		logFinalStats(log, tun.Stats())
	}
	defer func() {
		if err != nil {
			stopAll()
		}
	}()
	if err := applyKeyStore(env, tun); err != nil {
		return nil, err
	}
	err = tun.Apply(p.change)
	// The tunnel keeps its own copies; the parsed ones are not needed
	// again.
	wipeKeys(cfg, p.change)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", cfg.Name, err)
	}
	if err := tun.Up(); err != nil {
		return nil, err
	}
	sockPath := "none (set XDG_RUNTIME_DIR or WGPLEX_RUNTIME_DIR)"
	if dir := proxySocketDir(); dir != "" {
		srv, err := uapi.Listen(dir, name)
		if err != nil {
			return nil, fmt.Errorf("UAPI socket: %v", err)
		}
		go func() {
			if err := srv.Serve(uapiHandler{tun, &env.Plugins.running}, log); err != nil {
				log.Error("UAPI server stopped", "err", err)
			}
		}()
		stops = append(stops, func() { srv.Close() })
		env.UAPIRemoved, sockPath = srv.Removed(), srv.Path()
	}
	set, err := proxy.Start(cfg, proxy.Options{Tunnel: dev.Net(), Routes: tun.Routes, Logger: log})
	if err != nil {
		return nil, err
	}
	stops = append(stops, func() { set.Close() })
	env.Tunnel, env.Offloads = tun, offloadReporter(dev, bind)
	p.set, p.sockPath = set, sockPath
	if len(cfg.STDIOTunnels) > 0 {
		p.stdioDone = make(chan struct{})
		// One standard input: the first STDIOTunnel takes it, and the
		// process ends with it, as an ssh ProxyCommand should.
		go func() {
			defer close(p.stdioDone)
			err := proxy.STDIO(context.Background(), p.stdin, p.stdout, cfg.STDIOTunnels[0].Target,
				proxy.Options{Tunnel: dev.Net(), Routes: tun.Routes, Logger: log})
			if err != nil {
				fmt.Fprintf(p.stderr, "wgplex proxy: %v\n", err)
			}
		}()
	}
	return stopAll, nil
}

// wipeKeys clears the private and pre-shared keys of the parsed file and
// of the change set made from it.
func wipeKeys(cfg *proxyconf.File, change core.Config) {
	if k := cfg.WG.Interface.PrivateKey; k != nil {
		clear(k[:])
	}
	if change.PrivateKey != nil {
		clear(change.PrivateKey[:])
	}
	for _, p := range cfg.WG.Peers {
		if p.PresharedKey != nil {
			clear(p.PresharedKey[:])
		}
	}
	for _, p := range change.Peers {
		if p.PresharedKey != nil {
			clear(p.PresharedKey[:])
		}
	}
}
