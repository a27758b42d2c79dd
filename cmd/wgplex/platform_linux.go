// SPDX-License-Identifier: MIT

package main

import (
	"github.com/wgplex/wgplex/backends/tun"
	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/transports/udp"
)

func createDevice(name string, mtu int) (core.Device, error) { return tun.Create(name, mtu) }

func newBind() core.Bind { return udp.NewBind() }
