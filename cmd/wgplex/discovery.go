package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
)

// Peer discovery: a plugin reports the other nodes of a registry (a
// shared directory, etcd) and the daemon makes them peers; the daemon
// publishes this node's own record through the same plugin. The node's
// key is the interface's (set with wg(8) or held by a key vault); what it
// announces besides is given here. Peers configured by hand are left
// alone.
var (
	discoveryFlag = registerDaemonFlag("discovery", "WGPLEX_DISCOVERY",
		`discovery plugin command line, e.g. "discovery-etcd -endpoints http://10.0.0.254:2379"`)
	discoveryDirFlag = registerDaemonFlag("discovery-dir", "WGPLEX_DISCOVERY_DIR",
		"run the built-in directory discovery on this shared directory of peer files")
	discoveryEndpointFlag = registerDaemonFlag("discovery-endpoint", "WGPLEX_DISCOVERY_ENDPOINT",
		"where other nodes reach this one, comma-separated: host:port, or an address alone for the listen port")
	discoveryAllowedIPsFlag = registerDaemonFlag("discovery-allowed-ips", "WGPLEX_DISCOVERY_ALLOWED_IPS",
		"prefixes this node announces, comma-separated (its tunnel address as a /32 or /128, subnets behind it)")
	discoveryKeepaliveFlag = registerDaemonFlag("discovery-keepalive", "WGPLEX_DISCOVERY_KEEPALIVE",
		"persistent keepalive (seconds) other nodes should use towards this one")
	discoveryNameFlag = registerDaemonFlag("discovery-name", "WGPLEX_DISCOVERY_NAME",
		"this node's name in the registry (default: the host name)")
	discoveryPSKDirFlag = registerDaemonFlag("discovery-psk-dir", "WGPLEX_DISCOVERY_PSK_DIR",
		"directory of pre-shared key files that records name (PresharedKeyRef); records naming one are refused without it")
	discoveryPSKRefFlag = registerDaemonFlag("discovery-psk-ref", "WGPLEX_DISCOVERY_PSK_REF",
		"the pre-shared key name this node announces")
)

// discoveryDirCommand is the subcommand under which wgplex runs its
// built-in copy of the directory discovery plugin.
const discoveryDirCommand = "discovery-dir"

func init() {
	registerDaemonStarter("discovery", startDiscovery)
	registerCommand(&command{
		name:  discoveryDirCommand,
		usage: discoveryDirCommand + " -dir DIR   the built-in directory discovery plugin (the daemon starts it for --discovery-dir)",
		run: func(args []string, _ io.Reader, _, stderr io.Writer) int {
			return dirdisc.Main(args, stderr)
		},
	})
}

func startDiscovery(env *daemonEnv) (func(), error) {
	if *discoveryFlag == "" && *discoveryDirFlag == "" {
		return nil, nil
	}
	var argv []string
	switch {
	case *discoveryFlag != "" && *discoveryDirFlag != "":
		return nil, errors.New("--discovery and --discovery-dir are exclusive")
	case *discoveryDirFlag != "":
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("--discovery-dir: %w", err)
		}
		argv = []string{self, discoveryDirCommand, "-dir", *discoveryDirFlag}
	default:
		var err error
		if argv, err = plugins.SplitCommandLine(*discoveryFlag); err != nil {
			return nil, fmt.Errorf("--discovery: %w", err)
		}
	}
	ann, err := discoveryAnnouncement()
	if err != nil {
		return nil, err
	}
	if err := addMetricsCollector(pluginMetrics); err != nil {
		return nil, err
	}
	name := ""
	if *discoveryDirFlag != "" {
		name = discoveryDirCommand
	}
	d, err := plugins.StartDiscovery(plugins.Config{
		Name:    name,
		Command: argv,
		Logger:  env.Log,
		Metrics: pluginMetrics,
	}, plugins.DiscoveryOptions{
		Tunnel:   env.Tunnel,
		Announce: ann,
		PSKDir:   *discoveryPSKDirFlag,
	})
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	env.Log.Info("Peer discovery started", "plugin", d.Plugin().Name(),
		"announce_endpoints", strings.Join(ann.Endpoints, ","), "announce_allowed_ips", fmt.Sprint(ann.AllowedIPs))
	return func() { d.Close() }, nil
}

// discoveryAnnouncement collects what this node announces from the options.
func discoveryAnnouncement() (plugins.Announcement, error) {
	a := plugins.Announcement{Name: *discoveryNameFlag, PSKRef: *discoveryPSKRefFlag}
	if a.Name == "" {
		a.Name, _ = os.Hostname()
	}
	a.Endpoints = discoverySplitList(*discoveryEndpointFlag)
	for _, s := range discoverySplitList(*discoveryAllowedIPsFlag) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return plugins.Announcement{}, fmt.Errorf("--discovery-allowed-ips: %q is not a prefix or address", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		a.AllowedIPs = append(a.AllowedIPs, p)
	}
	if s := *discoveryKeepaliveFlag; s != "" {
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
