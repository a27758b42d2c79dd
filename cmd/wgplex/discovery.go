// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// discoveryPart is peer discovery: a plugin reports the other nodes of a
// registry (a shared directory, etcd) and the daemon makes them peers; the
// daemon publishes this node's own record through the same plugin. The
// node's key is the interface's (set with wg(8) or held by a key vault,
// which is why discovery starts after both); what it announces besides is
// given here. Peers configured by hand are left alone.
type discoveryPart struct {
	cmdline, dir, endpoint, allowedIPs, keepalive, name, pskDir, pskRef *string
	ca, cert, signingKey, signer, revocations, allow                    *string
	passEnv, sha256, user, dirInsecure                                  *string
}

func (*discoveryPart) Name() string { return "discovery" }

func (p *discoveryPart) Flags(fs *daemonFlagSet) {
	p.cmdline = fs.String("discovery", "WGPLEX_DISCOVERY",
		`discovery plugin command line, e.g. "discovery-etcd -endpoints http://10.0.0.254:2379"`)
	p.dir = fs.String("discovery-dir", "WGPLEX_DISCOVERY_DIR",
		"run the built-in directory discovery on this shared directory of peer files")
	p.endpoint = fs.String("discovery-endpoint", "WGPLEX_DISCOVERY_ENDPOINT",
		"where other nodes reach this one, comma-separated: host:port, or an address alone for the listen port (default: the addresses of the other interfaces)")
	p.allowedIPs = fs.String("discovery-allowed-ips", "WGPLEX_DISCOVERY_ALLOWED_IPS",
		"prefixes this node announces, comma-separated (default: the tunnel interface's own addresses, as /32 and /128)")
	p.keepalive = fs.String("discovery-keepalive", "WGPLEX_DISCOVERY_KEEPALIVE",
		"persistent keepalive (seconds) other nodes should use towards this one")
	p.name = fs.String("discovery-name", "WGPLEX_DISCOVERY_NAME",
		"this node's name in the registry (default: the host name)")
	p.pskDir = fs.String("discovery-psk-dir", "WGPLEX_DISCOVERY_PSK_DIR",
		"directory of pre-shared key files that records name (PresharedKeyRef); records naming one are refused without it")
	p.pskRef = fs.String("discovery-psk-ref", "WGPLEX_DISCOVERY_PSK_REF",
		"the pre-shared key name this node announces")
	p.ca = fs.String("discovery-ca", "WGPLEX_DISCOVERY_CA",
		"trusted fleet CA public files, comma-separated (wgplex fleet init-ca): only records signed under them become peers")
	p.cert = fs.String("discovery-cert", "WGPLEX_DISCOVERY_CERT",
		"this node's fleet certificate (wgplex fleet sign), to sign its own record")
	p.signingKey = fs.String("discovery-signing-key", "WGPLEX_DISCOVERY_SIGNING_KEY",
		"this node's record signing key, a mode 0600 file (wgplex fleet genkey)")
	p.signer = fs.String("discovery-signer", "WGPLEX_DISCOVERY_SIGNER",
		`instead of --discovery-signing-key: a key vault plugin that holds the signing key, e.g. "keyvault-file -key K -signing-key S"`)
	p.revocations = fs.String("discovery-revocations", "WGPLEX_DISCOVERY_REVOCATIONS",
		"fleet revocation lists, comma-separated (wgplex fleet revoke); re-read when they change")
	p.allow = fs.String("discovery-allow", "WGPLEX_DISCOVERY_ALLOW",
		"without a CA: prefixes records may claim, comma-separated (default: anything but default routes)")
	p.passEnv = fs.String("discovery-env", "WGPLEX_DISCOVERY_ENV",
		"daemon environment variables the discovery plugin gets, comma-separated, NAME or PREFIX* (default: WGPLEX_ETCD_*)")
	p.sha256 = fs.String("discovery-sha256", "WGPLEX_DISCOVERY_SHA256",
		"pin the discovery plugin binary to this SHA-256 (hex, as sha256sum prints it)")
	p.user = fs.String("discovery-user", "WGPLEX_DISCOVERY_USER",
		"run the discovery plugin as this user (name or uid[:gid]), without capabilities (Linux; for plugins like discovery-etcd that write nothing locally)")
	p.dirInsecure = fs.String("discovery-dir-insecure", "WGPLEX_DISCOVERY_DIR_INSECURE",
		"\"true\" lets --discovery-dir use a directory or files that others may write")
}

// discoveryDirCommand is the subcommand under which wgplex runs its
// built-in copy of the directory discovery plugin.
const discoveryDirCommand = "discovery-dir"

func (p *discoveryPart) Start(env *daemonEnv) (func(), error) {
	if p.cmdline == nil || *p.cmdline == "" && *p.dir == "" {
		return nil, nil
	}
	if env.Tunnel == nil {
		return nil, errors.New("no tunnel: discovery must start after the interface")
	}
	var argv []string
	switch {
	case *p.cmdline != "" && *p.dir != "":
		return nil, errors.New("--discovery and --discovery-dir are exclusive")
	case *p.dir != "":
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("--discovery-dir: %w", err)
		}
		argv = []string{self, discoveryDirCommand, "-dir", *p.dir}
		switch *p.dirInsecure {
		case "", "false", "0", "no":
			if err := dirdisc.CheckDir(*p.dir); err != nil {
				return nil, fmt.Errorf("--discovery-dir: %v", err)
			}
		case "true", "1", "yes":
			argv = append(argv, "-insecure")
		default:
			return nil, fmt.Errorf("--discovery-dir-insecure: %q is not true or false", *p.dirInsecure)
		}
	default:
		var err error
		if argv, err = plugins.SplitCommandLine(*p.cmdline); err != nil {
			return nil, fmt.Errorf("--discovery: %w", err)
		}
	}
	ann, err := p.announcement()
	if err != nil {
		return nil, err
	}
	cfg, err := pluginOptions("discovery", pluginFlags{*p.passEnv, *p.sha256, *p.user})
	if err != nil {
		return nil, err
	}
	// discovery's refusal and restoration counters
	dm := plugins.NewDiscoveryMetrics()
	if err := env.addCollector(env.Plugins.metrics); err != nil {
		return nil, err
	}
	if err := env.addCollector(dm); err != nil {
		return nil, err
	}
	trust, id, stopSigner, err := p.trust(env)
	if err != nil {
		return nil, err
	}
	ifname := env.Ifname
	managedFile := discoveredFile(env.Platform.SocketDir, ifname)
	if err := os.MkdirAll(filepath.Dir(managedFile), 0o755); err != nil {
		stopSigner()
		return nil, err
	}
	if err := writeDiscovered(managedFile, nil); err != nil {
		stopSigner()
		return nil, err
	}
	name := ""
	if *p.dir != "" {
		name = discoveryDirCommand
	}
	cfg.Name, cfg.Command, cfg.SearchDirs, cfg.Logger, cfg.Metrics = name, argv, pluginSearchDirs(), env.Log, env.Plugins.metrics
	if cfg.Reattach, err = env.Plugins.pluginReattach(sdk.KindDiscovery); err != nil {
		stopSigner()
		return nil, err
	}
	d, err := env.Platform.StartDiscovery(cfg, plugins.DiscoveryOptions{
		Tunnel: boostedTunnel{env.Tunnel, &daemonProcs},
		AnnounceFunc: func() plugins.Announcement {
			a := ann
			if len(a.Endpoints) == 0 {
				a.Endpoints = hostEndpoints(ifname)
			}
			if len(a.AllowedIPs) == 0 {
				a.AllowedIPs = tunnelPrefixes(ifname)
			}
			return a
		},
		PSKDir:   *p.pskDir,
		Trust:    trust,
		Identity: id,
		Metrics:  dm,
		OnManaged: func(keys []core.PublicKey) {
			if err := writeDiscovered(managedFile, keys); err != nil {
				env.Log.Warn("Cannot list the discovered peers for SaveConfig", "file", managedFile, "err", err)
			}
		},
	})
	if err != nil {
		os.Remove(managedFile)
		stopSigner()
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if pl := d.Plugin(); pl != nil {
		env.Log.Info("Peer discovery started", "plugin", pl.Name())
	}
	unlist := env.supervise(d)
	return func() {
		unlist()
		d.Close()
		stopSigner()
		os.Remove(managedFile)
	}, nil
}

// announcement collects what this node announces from the options.
func (p *discoveryPart) announcement() (plugins.Announcement, error) {
	a := plugins.Announcement{Name: *p.name, PSKRef: *p.pskRef}
	if a.Name == "" {
		a.Name, _ = os.Hostname()
	}
	a.Endpoints = discoverySplitList(*p.endpoint)
	for _, s := range discoverySplitList(*p.allowedIPs) {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return plugins.Announcement{}, fmt.Errorf("--discovery-allowed-ips: %q is not a prefix or address", s)
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		a.AllowedIPs = append(a.AllowedIPs, pfx)
	}
	if s := *p.keepalive; s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return plugins.Announcement{}, fmt.Errorf("--discovery-keepalive: %q is not 0..65535", s)
		}
		a.PersistentKeepalive = uint16(n)
	}
	if err := plugins.CheckAnnouncement(a); err != nil {
		return plugins.Announcement{}, err
	}
	return a, nil
}

// discoverySplitList splits a comma- or blank-separated list.
func discoverySplitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// hostEndpoints lists the addresses other nodes may reach this one at when
// none are given: the global and private unicast addresses of every
// interface that is up, except the tunnel itself and loopback, IPv4 first.
// The daemon adds the listen port.
func hostEndpoints(tunnel string) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, ifc := range ifs {
		if ifc.Name == tunnel || ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		for _, a := range interfaceAddrs(&ifc) {
			switch {
			case !a.IsGlobalUnicast():
			case a.Is4():
				v4 = append(v4, a.String())
			default:
				v6 = append(v6, a.String())
			}
		}
	}
	return append(v4, v6...)
}

// tunnelPrefixes is the tunnel interface's own addresses as host prefixes:
// what a node announces as its tunnel address unless told otherwise.
func tunnelPrefixes(tunnel string) []netip.Prefix {
	ifc, err := net.InterfaceByName(tunnel)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range interfaceAddrs(ifc) {
		if a.IsGlobalUnicast() {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func interfaceAddrs(ifc *net.Interface) []netip.Addr {
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}
