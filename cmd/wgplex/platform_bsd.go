// SPDX-License-Identifier: MIT

//go:build darwin || freebsd || netbsd || openbsd

package main

import (
	"github.com/wgplex/wgplex/backends/bsd"
	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/transports/udp"
)

// createDevice opens tun(4) on the BSDs and utun on macOS. The interface
// names each system accepts differ; see bsd.Create.
func createDevice(name string, mtu int) (core.Device, error) { return bsd.Create(name, mtu) }

func newBind() core.Bind { return udp.NewBind() }
