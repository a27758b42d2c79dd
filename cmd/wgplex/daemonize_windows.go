// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"io"
)

// Windows has no fork-and-detach; the daemon always runs in the foreground
// there (as a service, or in a console).
func isDaemonChild() bool { return true }

func daemonize(stderr io.Writer) int {
	fmt.Fprintln(stderr, "wgplex: run with --foreground on Windows")
	return 2
}

func signalReady() {}
