// SPDX-License-Identifier: MIT

package main

import (
	"os"

	"github.com/wgplex/wgplex/backends/tun"
	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/transports/udp"
)

// The offload switches (see README, Performance): WGPLEX_TUN_OFFLOAD,
// WGPLEX_TUN_TSO, WGPLEX_TUN_USO, WGPLEX_TUN_GRO, WGPLEX_UDP_GSO,
// WGPLEX_UDP_GRO and WGPLEX_UDP_HANDSHAKE_SOCKET set to off (or 0, false,
// no) switch one off; anything else leaves it on.
func createDevice(name string, mtu int) (core.Device, error) {
	return tun.CreateWithOptions(name, mtu, tun.Options{
		NoOffload: envOff("WGPLEX_TUN_OFFLOAD"),
		NoTSO:     envOff("WGPLEX_TUN_TSO"),
		NoUSO:     envOff("WGPLEX_TUN_USO"),
		NoGRO:     envOff("WGPLEX_TUN_GRO"),
	})
}

// newBind is the daemon's UDP bind. Handshake messages go to a socket of
// their own (transports/udp, hsock_linux.go) unless
// WGPLEX_UDP_HANDSHAKE_SOCKET is off.
func newBind() core.Bind {
	return udp.NewBindWithOptions(udp.Options{
		NoGSO:             envOff("WGPLEX_UDP_GSO"),
		NoGRO:             envOff("WGPLEX_UDP_GRO"),
		NoHandshakeSocket: envOff("WGPLEX_UDP_HANDSHAKE_SOCKET"),
	})
}

// envOff reports whether the environment variable name switches an
// offload off; anything but an off word leaves it on.
func envOff(name string) bool {
	on, ok := switchValue(os.Getenv(name))
	return ok && !on
}
