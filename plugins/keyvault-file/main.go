// SPDX-License-Identifier: MIT

// Command keyvault-file is a wgplex key vault plugin that keeps the static
// private key in a file only the plugin reads. The daemon learns the public
// key and asks for X25519 results; the private key never crosses the
// plugin boundary, so the daemon's memory never holds it.
//
// Usage (the daemon launches it; it is not run by hand):
//
//	wgplex --keyvault "keyvault-file -key /etc/wgplex/wg0.key" wg0
//	wgplex vault-genkey --plugin "keyvault-file -key /etc/wgplex/wg0.key"
//	wgplex --discovery-signer "keyvault-file -key /etc/wgplex/wg0.key -signing-key /etc/wgplex/node.sign" ...
//
// The key file holds a base64 key as `wg genkey` writes it. It must not be
// readable or writable by group or others (as wg(8) warns about such
// files, this plugin refuses them). Run the plugin as a user of its own
// (through a setuid wrapper, sudo -u, or systemd) to keep the key away
// from the daemon's user entirely. With -signing-key (a fleet signing key,
// as `wgplex fleet genkey` writes it) the vault also signs this node's
// discovery records, so the daemon never reads that key either.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/wgplex/wgplex/fleet"
	"github.com/wgplex/wgplex/plugins/sdk"
)

func main() {
	keyPath := flag.String("key", "", "`path` of the base64 private key file")
	signPath := flag.String("signing-key", "", "`path` of the fleet record signing key (optional)")
	flag.Parse()
	if *keyPath == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: keyvault-file -key PATH [-signing-key PATH]")
		os.Exit(2)
	}
	v, err := openVault(*keyPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "keyvault-file: %v\n", err)
		os.Exit(1)
	}
	if *signPath != "" {
		if v.signer, err = fleet.ReadPrivateKeyFile(*signPath); err != nil {
			fmt.Fprintf(os.Stderr, "keyvault-file: %v\n", err)
			os.Exit(1)
		}
	}
	sdk.ServeKeyVault(v)
}
