// SPDX-License-Identifier: MIT

package main

import (
	"fmt"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// The key vault option: the interface's static key is held by a plugin
// process, and the daemon only ever sees the public key and X25519
// results. Set, it makes the vault the interface's identity before the
// UAPI socket opens, so wg(8) never sees a window in which a private key
// could be set; afterwards `wg set IF private-key` is refused (EPERM) and
// `wg showconf` shows no private key.
var keyVaultFlag = registerDaemonFlag("keyvault", "WGPLEX_KEYVAULT",
	`key vault plugin command line, e.g. "keyvault-file -key /etc/wireguard/wg0.key"; the plugin holds the private key`)

// pluginMetrics are the plugin host's series, shared by every plugin the
// daemon runs.
var pluginMetrics = plugins.NewMetrics()

func init() {
	registerDaemonStarter("keyvault", startKeyVault)
}

func startKeyVault(env *daemonEnv) (func(), error) {
	if *keyVaultFlag == "" {
		return nil, nil
	}
	argv, err := plugins.SplitCommandLine(*keyVaultFlag)
	if err != nil {
		return nil, fmt.Errorf("--keyvault: %w", err)
	}
	if err := addMetricsCollector(pluginMetrics); err != nil {
		return nil, err
	}
	reattach, err := pluginReattach(sdk.KindKeyVault)
	if err != nil {
		return nil, err
	}
	kv, err := plugins.StartKeyVault(plugins.Config{
		Command:  argv,
		Logger:   env.Log,
		Metrics:  pluginMetrics,
		Reattach: reattach,
	})
	if err != nil {
		return nil, fmt.Errorf("key vault: %w", err)
	}
	if err := env.Tunnel.Apply(core.Config{KeyStore: kv}); err != nil {
		kv.Close()
		return nil, fmt.Errorf("key vault: %w", err)
	}
	env.Log.Info("Key vault in charge of the static key", "plugin", kv.Plugin().Name(), "public_key", kv.PublicKey().String())
	runningPlugins.add(kv.Plugin())
	return func() {
		runningPlugins.remove(kv.Plugin())
		kv.Close()
		// Anything go-plugin still manages (nothing, normally) goes too.
		plugin.CleanupClients()
	}, nil
}
