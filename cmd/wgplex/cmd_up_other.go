// SPDX-License-Identifier: MIT

//go:build !linux

package main

import (
	"fmt"
	"io"
)

// up, down and demo change the host's network configuration through
// rtnetlink; on other systems they say so instead of half working.

func notHere(name string) func([]string, io.Reader, io.Writer, io.Writer) int {
	return func(_ []string, _ io.Reader, _, stderr io.Writer) int {
		fmt.Fprintf(stderr, "%s %s: not implemented on this system yet; use wg-quick(8) with WG_QUICK_USERSPACE_IMPLEMENTATION=%s\n", progName, name, progName)
		return 1
	}
}
