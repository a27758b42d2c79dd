// SPDX-License-Identifier: MIT

package main

import (
	"github.com/wgplex/wgplex/backends/windows"
	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/transports/udp"
)

// createDevice creates a Wintun adapter; wintun.dll must be installed next
// to wgplex.exe.
func createDevice(name string, mtu int) (core.Device, error) { return windows.Create(name, mtu) }

func newBind() core.Bind { return udp.NewBind() }
