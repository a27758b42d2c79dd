// SPDX-License-Identifier: MIT

package main

import (
	"fmt"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// vaultPart is the key vault option: the interface's static key is held
// by a plugin process, and the daemon only ever sees the public key and
// X25519 results. It starts before the interface, which makes the vault
// its identity before the UAPI socket opens, so wg(8) never sees a window
// in which a private key could be set; afterwards `wg set IF private-key`
// is refused (EPERM) and `wg showconf` shows no private key.
type vaultPart struct {
	cmdline, passEnv, sha256, user *string
}

// pluginFlags are a plugin's environment, pinning and user options.
type pluginFlags struct{ passEnv, sha256, user string }

func (*vaultPart) Name() string { return "keyvault" }

func (p *vaultPart) Flags(fs *daemonFlagSet) {
	p.cmdline = fs.String("keyvault", "WGPLEX_KEYVAULT",
		`key vault plugin command line, e.g. "keyvault-file -key /etc/wireguard/wg0.key"; the plugin holds the private key`)
	p.passEnv = fs.String("keyvault-env", "WGPLEX_KEYVAULT_ENV",
		"daemon environment variables the key vault plugin gets, comma-separated, NAME or PREFIX* (default: WGPLEX_PKCS11_*,SOFTHSM2_CONF)")
	p.sha256 = fs.String("keyvault-sha256", "WGPLEX_KEYVAULT_SHA256",
		"pin the key vault plugin binary to this SHA-256 (hex, as sha256sum prints it)")
	p.user = fs.String("keyvault-user", "WGPLEX_KEYVAULT_USER",
		"run the key vault plugin as this user (name or uid[:gid]), without capabilities (Linux)")
}

func (p *vaultPart) Start(env *daemonEnv) (func(), error) {
	if p.cmdline == nil {
		return nil, nil // options never declared: not configured
	}
	// The discovery signer is a key vault too, under the same options.
	env.vaultOptions = pluginFlags{*p.passEnv, *p.sha256, *p.user}
	if *p.cmdline == "" {
		return nil, nil
	}
	argv, err := plugins.SplitCommandLine(*p.cmdline)
	if err != nil {
		return nil, fmt.Errorf("--keyvault: %w", err)
	}
	if err := env.addCollector(env.Plugins.metrics); err != nil {
		return nil, err
	}
	cfg, err := pluginOptions("keyvault", env.vaultOptions)
	if err != nil {
		return nil, err
	}
	cfg.Command, cfg.SearchDirs, cfg.Logger, cfg.Metrics = argv, pluginSearchDirs(), env.Log, env.Plugins.metrics
	if cfg.Reattach, err = env.Plugins.pluginReattach(sdk.KindKeyVault); err != nil {
		return nil, err
	}
	kv, err := env.Platform.StartKeyVault(cfg)
	if err != nil {
		return nil, fmt.Errorf("key vault: %w", err)
	}
	// The interface applies it as soon as the tunnel exists, before its
	// UAPI socket opens.
	env.KeyStore = kv
	unlist := env.supervise(kv)
	return func() {
		unlist()
		kv.Close()
		// Anything go-plugin still manages (nothing, normally) goes too.
		plugin.CleanupClients()
	}, nil
}

// pluginOptions reads a plugin's environment, pinning and user options.
func pluginOptions(flag string, o pluginFlags) (plugins.Config, error) {
	cfg := plugins.Config{User: o.user}
	if o.passEnv != "" {
		cfg.PassEnv = discoverySplitList(o.passEnv)
	}
	if o.sha256 != "" {
		b, err := plugins.ParseSHA256(o.sha256)
		if err != nil {
			return cfg, fmt.Errorf("--%s-sha256: %v", flag, err)
		}
		cfg.SHA256 = b
	}
	return cfg, nil
}
