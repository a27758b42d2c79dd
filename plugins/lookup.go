// SPDX-License-Identifier: MIT

package plugins

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolveCommand makes the plugin's command absolute: a name without a
// path separator is looked for in each of c.SearchDirs in turn, then in
// PATH; a path is made absolute as it is. Doing it once, before the first
// launch, means every restart runs the same file, and the path that Start
// logs is the one that runs, so an operator can tell a packaged plugin from one
// that happens to be first in PATH.
func (c *Config) resolveCommand() error {
	if c.resolved {
		return nil
	}
	name := c.Command[0]
	var path string
	if strings.ContainsRune(name, '/') || strings.ContainsRune(name, filepath.Separator) {
		path = name
	} else {
		for _, dir := range c.SearchDirs {
			if dir == "" {
				continue
			}
			// LookPath of a path checks that it is an executable file (and
			// tries the executable extensions on Windows).
			if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
				path = p
				break
			}
		}
		if path == "" {
			p, err := exec.LookPath(name)
			if err != nil {
				return fmt.Errorf("plugin %s: not found in %s or PATH: %w", name, strings.Join(c.SearchDirs, ", "), err)
			}
			path = p
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	// Symbolic links resolved, so that the file checksummed, logged and
	// pinned is the file that runs.
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	sum, err := fileSHA256(real)
	if err != nil {
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	// The caller's slice is not modified.
	c.Command = append([]string{abs}, c.Command[1:]...)
	c.path = real
	c.resolved = true
	c.Logger.Info("Plugin binary", "plugin", c.Name, "path", abs, "file", real, "sha256", sum, "pinned", c.SHA256 != nil)
	return nil
}
