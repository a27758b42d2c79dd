// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/uapi"
)

// The daemon lists the peers discovery manages in a file beside the UAPI
// socket, so that `wgplex down` with SaveConfig leaves them out of the
// configuration file: a discovered peer written there would outlive its
// record as a hand-configured peer. Only root writes the socket
// directory, so the list cannot be forged by a local user.

// discoveredPath is that file for interface ifname.
func discoveredPath(ifname string) string { return discoveredFile(uapi.DefaultSocketDir, ifname) }

// discoveredFile is that file for interface ifname beside the UAPI
// sockets in dir.
func discoveredFile(dir, ifname string) string { return filepath.Join(dir, ifname+".discovered") }

// writeDiscovered replaces the list (a temporary file renamed over it, so
// that a reader never sees half of it).
func writeDiscovered(path string, keys []core.PublicKey) error {
	var b bytes.Buffer
	for _, k := range keys {
		b.WriteString(config.FormatKey(k))
		b.WriteByte('\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// readDiscovered reads the list; a missing file is an empty list.
func readDiscovered(path string) (map[core.PublicKey]bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[core.PublicKey]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, err := config.ParseKey(strings.TrimSpace(sc.Text()))
		if err != nil {
			continue
		}
		out[core.PublicKey(k)] = true
	}
	return out, nil
}
