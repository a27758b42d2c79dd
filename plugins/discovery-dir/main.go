// SPDX-License-Identifier: MIT

// Command discovery-dir is the wgplex directory discovery plugin: every
// file NAME.conf in the directory holds one [Peer] section and becomes a
// peer; the node's own record is written there too, so that nodes sharing
// the directory form a mesh. See package dirdisc for the details.
//
//	wgplex --discovery "discovery-dir -dir /srv/mesh" --discovery-endpoint 192.0.2.1 \
//	    --discovery-allowed-ips 10.0.0.1/32 wg0
//
// wgplex carries the same plugin inside (--discovery-dir DIR), so this
// binary is only needed to run the plugin on its own.
package main

import (
	"os"

	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
)

func main() {
	os.Exit(dirdisc.Main(os.Args[1:], os.Stderr))
}
