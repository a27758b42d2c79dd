// SPDX-License-Identifier: MIT

package main

import (
	"fmt"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// Flags declares the debug option: a plugin started by hand under a
// debugger (its -debug flag, sdk.ServeDebug) prints this setting; the
// daemon then connects to that process instead of launching the plugin
// of the same kind.
func (h *pluginHost) Flags(fs *daemonFlagSet) {
	h.reattach = fs.String("plugin-reattach", sdk.ReattachEnv,
		`connect to a plugin started by hand for debugging instead of launching it; the JSON its -debug mode prints`)
}

// pluginReattach is the reattach setting for a plugin of kind, nil when
// none was given or it is for the other kind.
func (h *pluginHost) pluginReattach(kind string) (*plugin.ReattachConfig, error) {
	if h.reattach == nil || *h.reattach == "" {
		return nil, nil
	}
	r, err := sdk.ParseReattach(*h.reattach)
	if err != nil {
		return nil, fmt.Errorf("--plugin-reattach: %w", err)
	}
	if r.Kind != kind {
		return nil, nil
	}
	return r.Config(), nil
}
