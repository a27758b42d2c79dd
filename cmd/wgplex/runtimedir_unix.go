// SPDX-License-Identifier: MIT

//go:build !windows

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/wgplex/wgplex/core/uapi"
)

// dialInterface connects to ifname's daemon in the first directory that
// has its socket; when none has, the error is the last directory's (the
// system one, normally), as wg(8) reports it.
func dialInterface(ifname string) (*uapi.Client, error) {
	if ifname == "" || strings.ContainsRune(ifname, '/') {
		return uapi.Dial(ifname)
	}
	dirs := socketDirs()
	for _, d := range dirs {
		p := filepath.Join(d, ifname+".sock")
		if _, err := os.Stat(p); err == nil {
			return uapi.DialPath(p)
		}
	}
	return uapi.DialPath(filepath.Join(dirs[len(dirs)-1], ifname+".sock"))
}

// listInterfaces lists the interfaces of every socket directory, each
// name once. A directory this user may not read is skipped.
func listInterfaces() ([]string, error) {
	seen := map[string]bool{}
	var out []string
	var firstErr error
	for _, d := range socketDirs() {
		names, err := uapi.ListDir(d)
		if err != nil {
			if firstErr == nil && !errors.Is(err, os.ErrPermission) {
				firstErr = err
			}
			continue
		}
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 && firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}
