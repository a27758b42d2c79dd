// SPDX-License-Identifier: MIT

package hostnet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoResolvconf is returned when DNS servers are to be set in the
// caller's namespace and resolvconf(8) is not installed. Writing
// /etc/resolv.conf behind the back of whatever manages it would not be
// undone reliably, so wgplex, like wg-quick, does not do that.
var ErrNoResolvconf = errors.New("DNS is set but resolvconf(8) is not installed: install resolvconf or openresolv, or remove the DNS line")

// HaveResolvconf reports whether resolvconf(8) is on PATH.
func HaveResolvconf() bool {
	_, err := exec.LookPath("resolvconf")
	return err == nil
}

// CanSetDNS says whether SetDNS will be able to install resolvers here,
// so that "up" can refuse a file before changing anything.
func (h *Host) CanSetDNS() error {
	if h.netns != "" || HaveResolvconf() {
		return nil
	}
	return ErrNoResolvconf
}

// resolvConf is the file content for servers and search domains.
func resolvConf(servers []netip.Addr, search []string) []byte {
	var b bytes.Buffer
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	return b.Bytes()
}

// SetDNS installs the resolvers for ifname. In the caller's namespace it
// hands them to resolvconf(8) as a record of their own, exclusive (-x) and
// first in order (-m 0); in a named namespace it writes
// /etc/netns/NAME/resolv.conf, the file ip-netns(8) shows processes in the
// namespace as /etc/resolv.conf, keeping what was there to put it back.
func (h *Host) SetDNS(st *State, ifname string, servers []netip.Addr, search []string) error {
	content := resolvConf(servers, search)
	if h.netns != "" {
		return h.writeNetnsResolvConf(st, content)
	}
	if !HaveResolvconf() {
		return ErrNoResolvconf
	}
	name := resolvconfPrefix() + ifname
	h.logf("resolvconf -a %s -m 0 -x", name)
	cmd := exec.Command("resolvconf", "-a", name, "-m", "0", "-x")
	cmd.Stdin = bytes.NewReader(content)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("resolvconf -a %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return st.Record(Change{Kind: KindResolvconf, Name: name})
}

func unsetResolvconf(h *Host, name string) error {
	if !HaveResolvconf() {
		return fmt.Errorf("resolvconf -d %s: resolvconf(8) is no longer installed", name)
	}
	h.logf("resolvconf -d %s -f", name)
	if out, err := exec.Command("resolvconf", "-d", name, "-f").CombinedOutput(); err != nil {
		return fmt.Errorf("resolvconf -d %s: %v: %s", name, err, bytes.TrimSpace(out))
	}
	return nil
}

// resolvconfPrefix is the record name prefix that Debian's resolvconf
// orders by: "tun." when its interface-order file lists "tun*", so that
// the tunnel's servers win; other implementations want none.
func resolvconfPrefix() string {
	f, err := os.Open("/etc/resolvconf/interface-order")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "tun*" {
			return "tun."
		}
	}
	return ""
}

// netnsEtc is where ip-netns(8) looks for a namespace's own /etc files.
const netnsEtc = "/etc/netns"

func (h *Host) writeNetnsResolvConf(st *State, content []byte) error {
	dir := filepath.Join(netnsEtc, h.netns)
	path := filepath.Join(dir, "resolv.conf")
	c := Change{Kind: KindFile, Path: path}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		c.Dir = dir
	}
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		s := string(old)
		c.Old = &s
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	h.logf("write %s", path)
	// Record first: if the write fails half way, down still restores.
	if err := st.Record(c); err != nil {
		return err
	}
	return os.WriteFile(path, content, 0o644)
}

func (h *Host) restoreFile(c Change) error {
	if c.Old != nil {
		h.logf("restore %s", c.Path)
		return os.WriteFile(c.Path, []byte(*c.Old), 0o644)
	}
	h.logf("remove %s", c.Path)
	if err := os.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if c.Dir != "" {
		// Only if nothing else was put there meanwhile.
		_ = os.Remove(c.Dir)
	}
	return nil
}
