// SPDX-License-Identifier: MIT

//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package main

import "os"

// isTerminal reports whether f is a character device, the closest test
// available without a terminal ioctl.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
