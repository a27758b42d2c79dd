// SPDX-License-Identifier: MIT

//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !windows

package main

import (
	"fmt"
	"runtime"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/transports/udp"
)

func createDevice(name string, mtu int) (core.Device, error) {
	return nil, fmt.Errorf("no TUN backend for %s yet", runtime.GOOS)
}

func newBind() core.Bind { return udp.NewBind() }
