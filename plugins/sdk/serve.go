// SPDX-License-Identifier: MIT

package sdk

import (
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// ServeKeyVault runs impl as a key vault plugin and returns when the daemon
// tells the plugin to stop. Call it from main and nowhere else: it takes
// over stdout (the go-plugin handshake line) and expects to be launched by
// the daemon. Started by hand, it prints an explanation and exits 1.
//
// Log through Logger(name): what a plugin writes to stderr ends up in the
// daemon's log, tagged with the plugin's name, at the level it was logged.
func ServeKeyVault(impl KeyVault) {
	ServeVersions(map[int]plugin.PluginSet{
		ProtocolVersion: {KindKeyVault: &KeyVaultPlugin{Impl: impl}},
	})
}

// ServeVersions runs a plugin that serves one or more protocol versions:
// for each version, the plugin kinds with their implementation in that
// version. The daemon picks the newest version both sides speak. A plugin
// moving to a new protocol version serves the old one beside it for as
// long as daemons that only speak the old one are in use.
//
// The same rules as ServeKeyVault apply: call it from main only.
func ServeVersions(versions map[int]plugin.PluginSet) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: versions,
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           Logger(""),
	})
}

// Logger returns a logger for plugin code. It writes JSON lines to stderr,
// which the daemon parses and re-logs with their level and fields.
func Logger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}
