// SPDX-License-Identifier: MIT

package plugins

import (
	"github.com/hashicorp/go-plugin"
)

// reattach turns a launch into a connection to the plugin in cfg.Reattach,
// if set: go-plugin takes exactly one of the two.
func (p *Plugin) reattach(cc *plugin.ClientConfig) *plugin.ClientConfig {
	if p.cfg.Reattach != nil {
		cc.Cmd = nil
		cc.SecureConfig = nil // nothing is launched, so there is no file to check
		cc.Reattach = p.cfg.Reattach
		// No handshake line to negotiate from: the version is the one the
		// plugin printed. An unknown one leaves the set empty and the
		// dispense fails naming the kind.
		cc.Plugins = cc.VersionedPlugins[p.cfg.Reattach.ProtocolVersion]
		cc.VersionedPlugins = nil
	}
	return cc
}

// ownedPid is the process id of a plugin the daemon launched itself, whose
// process group it may kill; 0 for one it reattached to, which belongs to
// whoever started it (a debugger).
func (p *Plugin) ownedPid(c *plugin.Client) int {
	if p.cfg.Reattach != nil {
		return 0
	}
	if rc := c.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}
