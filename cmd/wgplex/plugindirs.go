// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"path/filepath"
)

// packagedPluginDir is where the Debian, RPM and Alpine packages install
// the plugins (keyvault-file, discovery-etcd, discovery-dir, and
// keyvault-pkcs11 from wgplex-pkcs11).
const packagedPluginDir = "/usr/lib/wgplex/plugins"

// pluginSearchDirs are the directories searched for a plugin named
// without a path, before PATH: the packages' plugin directory, then the
// directory of the wgplex binary itself, where the release archives put
// the plugins beside it. A plugin of the same name elsewhere in PATH does
// not shadow the one that came with wgplex.
func pluginSearchDirs() []string {
	dirs := []string{packagedPluginDir}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
	}
	return dirs
}
