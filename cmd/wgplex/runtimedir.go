// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/wgplex/wgplex/core/uapi"
)

// Where UAPI sockets live. The TUN daemon serves in uapi.DefaultSocketDir,
// where wg(8) looks. A rootless "wgplex proxy" cannot write there, so it
// serves in the first of: $WGPLEX_RUNTIME_DIR, $XDG_RUNTIME_DIR/wgplex, and
// (for root only) uapi.DefaultSocketDir. show, set and showconf look in the
// same places, so that the user who runs a proxy reaches it.

// proxySocketDir is where "wgplex proxy" serves its socket; "" when the
// environment names no directory for a user other than root.
func proxySocketDir() string {
	if d := os.Getenv("WGPLEX_RUNTIME_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "wgplex")
	}
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		return uapi.DefaultSocketDir
	}
	return ""
}

// socketDirs lists the directories show and set search, first match
// winning: $WGPLEX_RUNTIME_DIR alone when it is set (a test or a second
// instance that wants to be apart), else the user's runtime directory and
// the system one.
func socketDirs() []string {
	if d := os.Getenv("WGPLEX_RUNTIME_DIR"); d != "" {
		return []string{d}
	}
	var dirs []string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "wgplex"))
	}
	return append(dirs, uapi.DefaultSocketDir)
}
