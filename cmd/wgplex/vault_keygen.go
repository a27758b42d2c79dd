// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// vault-genkey creates the static key inside a key vault (a file only the
// plugin reads, a PKCS#11 token) and prints the public key, like
// `wg genkey | wg pubkey` without the private key ever passing through
// this process. The plugin does the work, so the wgplex binary needs no
// cgo or token library of its own.
func runVaultGenkey(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vault-genkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pluginCmd := fs.String("plugin", "", "key vault plugin command line (as for the daemon's --keyvault)")
	force := fs.Bool("force", false, "replace a key the vault already holds")
	timeout := fs.Duration("timeout", 30*time.Second, "how long the vault may take to generate the key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Anything after the flags is the plugin's own arguments, so that
	// `vault-genkey --plugin keyvault-file -- -key /etc/wg.key` works too.
	cmdline := *pluginCmd
	if cmdline == "" {
		fmt.Fprintln(stderr, "wgplex vault-genkey: --plugin is required")
		return 2
	}
	argv, err := plugins.SplitCommandLine(cmdline)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex vault-genkey: --plugin: %v\n", err)
		return 2
	}
	argv = append(argv, fs.Args()...)
	pub, err := plugins.GenerateKey(plugins.Config{Command: argv, SearchDirs: pluginSearchDirs(), CallTimeout: *timeout}, *force)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex vault-genkey: %v\n", err)
		if errors.Is(err, sdk.ErrKeyExists) {
			fmt.Fprintln(stderr, "wgplex vault-genkey: use --force to replace it")
		}
		return 1
	}
	fmt.Fprintln(stdout, pub.String())
	return 0
}
