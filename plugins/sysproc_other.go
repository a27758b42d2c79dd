// SPDX-License-Identifier: MIT

//go:build !linux

package plugins

import "os/exec"

// isolate does nothing here: only Linux has a parent-death signal, and the
// rest relies on go-plugin's managed cleanup.
func isolate(*exec.Cmd) {}

// killGroup does nothing: go-plugin kills the plugin process itself.
func killGroup(int) {}
