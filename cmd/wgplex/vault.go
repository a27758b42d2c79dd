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

var (
	keyVaultEnvFlag = registerDaemonFlag("keyvault-env", "WGPLEX_KEYVAULT_ENV",
		"daemon environment variables the key vault plugin gets, comma-separated, NAME or PREFIX* (default: WGPLEX_PKCS11_*,SOFTHSM2_CONF)")
	keyVaultSHA256Flag = registerDaemonFlag("keyvault-sha256", "WGPLEX_KEYVAULT_SHA256",
		"pin the key vault plugin binary to this SHA-256 (hex, as sha256sum prints it)")
	keyVaultUserFlag = registerDaemonFlag("keyvault-user", "WGPLEX_KEYVAULT_USER",
		"run the key vault plugin as this user (name or uid[:gid]), without capabilities (Linux)")
)

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
	cfg, err := pluginOptions("keyvault", *keyVaultEnvFlag, *keyVaultSHA256Flag, *keyVaultUserFlag)
	if err != nil {
		return nil, err
	}
	cfg.Command, cfg.SearchDirs, cfg.Logger, cfg.Metrics = argv, pluginSearchDirs(), env.Log, pluginMetrics
	if cfg.Reattach, err = pluginReattach(sdk.KindKeyVault); err != nil {
		return nil, err
	}
	kv, err := plugins.StartKeyVault(cfg)
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

// pluginOptions reads a plugin's environment, pinning and user options.
func pluginOptions(flag, envNames, sum, user string) (plugins.Config, error) {
	cfg := plugins.Config{User: user}
	if envNames != "" {
		cfg.PassEnv = discoverySplitList(envNames)
	}
	if sum != "" {
		b, err := plugins.ParseSHA256(sum)
		if err != nil {
			return cfg, fmt.Errorf("--%s-sha256: %v", flag, err)
		}
		cfg.SHA256 = b
	}
	return cfg, nil
}
