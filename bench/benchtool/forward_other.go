// SPDX-License-Identifier: MIT

//go:build !linux

package main

import "errors"

// forwardCmd needs a Linux TUN device.
func forwardCmd([]string) error {
	return errors.New("forward: Linux only")
}
