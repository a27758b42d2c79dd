// SPDX-License-Identifier: MIT

package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/go-plugin"
)

// ReattachEnv is the daemon's environment variable (and --plugin-reattach
// option) that points it at a plugin started by hand, in the form
// ServeDebug prints.
const ReattachEnv = "WGPLEX_PLUGIN_REATTACH"

// maxReattach bounds the text ParseReattach accepts.
const maxReattach = 4096

// Reattach says where a plugin started by hand (under a debugger) listens,
// so that the daemon connects to it instead of launching the plugin. It is
// printed by ServeDebug and read by the daemon as JSON.
type Reattach struct {
	// Kind is the plugin kind served (KindKeyVault, KindDiscovery).
	Kind string `json:"kind"`
	// ProtocolVersion is the plugin protocol version served.
	ProtocolVersion int `json:"protocol_version"`
	// Network is "unix" or "tcp".
	Network string `json:"network"`
	// Addr is the socket path or host:port.
	Addr string `json:"addr"`
	// Pid is the plugin's process id.
	Pid int `json:"pid"`
}

// ParseReattach reads and checks a Reattach in JSON.
func ParseReattach(s string) (Reattach, error) {
	var r Reattach
	if len(s) > maxReattach {
		return r, fmt.Errorf("reattach setting longer than %d bytes", maxReattach)
	}
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("reattach setting: %w", err)
	}
	switch {
	case r.Kind != KindKeyVault && r.Kind != KindDiscovery:
		return r, fmt.Errorf("reattach setting: unknown plugin kind %q", r.Kind)
	case r.ProtocolVersion <= 0:
		return r, errors.New("reattach setting: no protocol_version")
	case r.Pid <= 0:
		return r, errors.New("reattach setting: no pid")
	case r.Addr == "":
		return r, errors.New("reattach setting: no addr")
	}
	switch r.Network {
	case "unix":
	case "tcp":
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			return r, fmt.Errorf("reattach setting: addr: %w", err)
		}
	default:
		return r, fmt.Errorf("reattach setting: network %q, want unix or tcp", r.Network)
	}
	return r, nil
}

// Config is the go-plugin form of r, for plugins.Config.Reattach.
func (r Reattach) Config() *plugin.ReattachConfig {
	var addr net.Addr = &net.UnixAddr{Net: "unix", Name: r.Addr}
	if r.Network == "tcp" {
		addr = tcpAddr(r.Addr)
	}
	return &plugin.ReattachConfig{
		Protocol:        plugin.ProtocolGRPC,
		ProtocolVersion: r.ProtocolVersion,
		Addr:            addr,
		Pid:             r.Pid,
		// The plugin belongs to whoever started it: the daemon neither
		// kills nor stops it.
		Test: true,
	}
}

// tcpAddr is a net.Addr for a host:port that need not resolve here.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }

// ServeDebug runs a plugin started by hand, under a debugger, instead of
// by the daemon: it listens, writes the daemon's reattach setting to out
// (as a shell assignment of ReattachEnv), and serves until ctx is done.
// Daemons come and go without stopping it, so one debugging session
// serves any number of daemon restarts. The connection has no TLS: use it
// on a development machine only.
func ServeDebug(ctx context.Context, kind string, versions map[int]plugin.PluginSet, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rcs := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versions,
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           Logger(""),
		Test:             &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: rcs, CloseCh: closed},
	})
	select {
	case rc := <-rcs:
		r := Reattach{Kind: kind, ProtocolVersion: rc.ProtocolVersion, Network: rc.Addr.Network(), Addr: rc.Addr.String(), Pid: rc.Pid}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Plugin serving for a debugger. Start the daemon with:\n\n\t%s='%s'\n\n", ReattachEnv, b)
	case <-closed:
		return errors.New("plugin server ended before it listened")
	}
	<-closed
	return nil
}

// ServeKeyVaultDebug is ServeDebug for a key vault.
func ServeKeyVaultDebug(ctx context.Context, impl KeyVault, out io.Writer) error {
	return ServeDebug(ctx, KindKeyVault, map[int]plugin.PluginSet{
		ProtocolVersion: {KindKeyVault: &KeyVaultPlugin{Impl: impl}},
	}, out)
}

// ServeDiscoveryDebug is ServeDebug for a discovery plugin.
func ServeDiscoveryDebug(ctx context.Context, impl Discovery, out io.Writer) error {
	return ServeDebug(ctx, KindDiscovery, map[int]plugin.PluginSet{
		ProtocolVersion: {KindDiscovery: &DiscoveryPlugin{Impl: impl}},
	}, out)
}
