// SPDX-License-Identifier: MIT

package main

import (
	"fmt"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// The debug option: a plugin started by hand under a debugger (its -debug
// flag, sdk.ServeDebug) prints this setting; the daemon then connects to
// that process instead of launching the plugin of the same kind.
var pluginReattachFlag = registerDaemonFlag("plugin-reattach", sdk.ReattachEnv,
	`connect to a plugin started by hand for debugging instead of launching it; the JSON its -debug mode prints`)

// pluginReattach is the reattach setting for a plugin of kind, nil when
// none was given or it is for the other kind.
func pluginReattach(kind string) (*plugin.ReattachConfig, error) {
	if *pluginReattachFlag == "" {
		return nil, nil
	}
	r, err := sdk.ParseReattach(*pluginReattachFlag)
	if err != nil {
		return nil, fmt.Errorf("--plugin-reattach: %w", err)
	}
	if r.Kind != kind {
		return nil, nil
	}
	return r.Config(), nil
}
