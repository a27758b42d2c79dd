// SPDX-License-Identifier: MIT

package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// A plugin gets an explicit environment: a few variables every program
// expects, the ones its kind is known to read, and what the operator
// names; go-plugin adds its own. Inheriting the daemon's whole
// environment would hand, say, the etcd password to the key vault.

// baseEnv is passed to every plugin.
var baseEnv = []string{"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LC_ALL"}

// DefaultPassEnv are the daemon variables a plugin of each kind gets when
// Config.PassEnv is nil: what the shipped plugins read. A name ending in
// '*' is a prefix.
var DefaultPassEnv = map[string][]string{
	sdk.KindKeyVault:  {"WGPLEX_PKCS11_*", "SOFTHSM2_CONF"},
	sdk.KindDiscovery: {"WGPLEX_ETCD_*"},
}

// pluginEnv is the environment of a plugin: baseEnv and the variables of
// environ that pass names, then extra.
func pluginEnv(environ, pass, extra []string) []string {
	match := func(name string) bool {
		for _, p := range append(baseEnv[:len(baseEnv):len(baseEnv)], pass...) {
			if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(name, pre) || p == name {
				return true
			}
		}
		return false
	}
	var out []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && match(name) {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// ParseSHA256 reads a pinned plugin checksum in hexadecimal.
func ParseSHA256(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != sha256.Size {
		return nil, errors.New("not a SHA-256 in hexadecimal (64 digits, as sha256sum prints it)")
	}
	return b, nil
}

// fileSHA256 is the checksum of a file, for the start-up log line.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// lookupUser resolves "name", "uid" or "uid:gid" to numeric ids; a user
// without an explicit group runs with its primary group.
func lookupUser(s string) (uid, gid uint32, err error) {
	name, group, hasGroup := strings.Cut(s, ":")
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		uid = uint32(n)
		gid = uid
		if u, err := user.LookupId(name); err == nil {
			if g, err := strconv.ParseUint(u.Gid, 10, 32); err == nil {
				gid = uint32(g)
			}
		}
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, 0, err
		}
		n, err1 := strconv.ParseUint(u.Uid, 10, 32)
		g, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return 0, 0, errors.New("no numeric user and group id")
		}
		uid, gid = uint32(n), uint32(g)
	}
	if hasGroup {
		g, err := strconv.ParseUint(group, 10, 32)
		if err != nil {
			return 0, 0, fmt.Errorf("group %q is not a number", group)
		}
		gid = uint32(g)
	}
	return uid, gid, nil
}
