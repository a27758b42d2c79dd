// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"slices"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/internal/hostnet"
)

// runDown takes an interface down: PreDown, SaveConfig, the removal of
// everything up recorded (rules, routes, addresses, DNS, the sysctl, the
// interface, whose daemon then exits), PostDown. The namespace is the one
// up used, as recorded; --netns need not be repeated.
func runDown(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	q, err := parseQuickArgs(args)
	if err != nil {
		return quickUsage("down", err, stderr)
	}
	if err := down(q, stdout, stderr); err != nil {
		return reportError("down", err, stderr)
	}
	return 0
}

func down(q quickArgs, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	f, err := config.ParseFile(q.path)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, "[#] "+format+"\n", args...) }
	st, err := hostnet.LoadState(hostnet.DefaultStateDir, q.ifname)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st = nil
	case err != nil:
		return err
	case q.netns != "" && q.netns != st.Netns:
		return fmt.Errorf("%s was brought up in network namespace %q, not %q", q.ifname, st.Netns, q.netns)
	default:
		q.netns = st.Netns
	}
	sock := uapi.SocketPath(q.ifname)
	target, err := hostnet.Open(q.netns)
	if err != nil {
		// The namespace is gone (ip netns del) but the daemon keeps it
		// alive: stopping the daemon removes the interface with it.
		if st == nil || !fileExists(sock) {
			return err
		}
		fmt.Fprintf(stderr, "%s down: %v; stopping the daemon instead\n", progName, err)
		if err := runHooks(q.ifname, f.Interface.PreDown, stdout, stderr); err != nil {
			return err
		}
		logf("rm -f %s", sock)
		os.Remove(sock)
		waitDaemonGone(q.ifname)
		st.Remove()
		return runHooks(q.ifname, f.Interface.PostDown, stdout, stderr)
	}
	defer target.Close()
	exists, err := target.LinkExists(q.ifname)
	if err != nil {
		return err
	}
	if st == nil && (!exists || !fileExists(sock)) {
		return fmt.Errorf("`%s' is not a WireGuard interface brought up by %s", q.ifname, progName)
	}

	if err := runHooks(q.ifname, f.Interface.PreDown, stdout, stderr); err != nil {
		return err
	}
	if f.Interface.SaveConfig && exists && fileExists(sock) {
		if err := saveConfig(q, f, st, target, logf); err != nil {
			return fmt.Errorf("SaveConfig: %w (nothing was taken down)", err)
		}
	}
	target.Log = logf
	if st != nil {
		if err := target.Undo(st); err != nil {
			return fmt.Errorf("%w (what is left is recorded in %s)", err, st.Path())
		}
	} else if err := target.DeleteLink(q.ifname); err != nil {
		return err
	}
	waitDaemonGone(q.ifname)
	if st != nil {
		if err := st.Remove(); err != nil {
			return err
		}
	}
	return runHooks(q.ifname, f.Interface.PostDown, stdout, stderr)
}

// saveConfig writes the running configuration back to the file, as
// wg-quick does: the wg(8) part from the daemon, the addresses the
// interface has now, the MTU it has now if the file set one, and the rest
// of the wg-quick keys as the file has them. A firewall mark up chose by
// itself for a default route is left out, so that the file does not grow
// a setting the user never made.
func saveConfig(q quickArgs, f *config.File, st *hostnet.State, target *hostnet.Host, logf func(string, ...any)) error {
	c, err := uapi.Dial(q.ifname)
	if err != nil {
		return err
	}
	snap, err := c.Get()
	c.Close()
	if err != nil {
		return err
	}
	out := config.FromSnapshot(snap)
	out.Name = q.path
	discovered, err := readDiscovered(discoveredPath(q.ifname))
	if err != nil {
		return err
	}
	out.Peers = slices.DeleteFunc(out.Peers, func(p config.Peer) bool { return discovered[core.PublicKey(p.PublicKey)] })
	if st != nil && st.AutoFwMark != 0 && out.Interface.FwMark != nil && *out.Interface.FwMark == st.AutoFwMark {
		out.Interface.FwMark = nil
	}
	addrs, err := target.Addresses(q.ifname)
	if err != nil {
		return err
	}
	in := &out.Interface
	in.Address = orderLike(addrs, f.Interface.Address)
	in.DNS, in.DNSSearch = f.Interface.DNS, f.Interface.DNSSearch
	if f.Interface.MTU != 0 {
		if in.MTU, err = target.LinkMTU(q.ifname); err != nil {
			return err
		}
	}
	in.Table = f.Interface.Table
	in.PreUp, in.PostUp, in.PreDown, in.PostDown = f.Interface.PreUp, f.Interface.PostUp, f.Interface.PreDown, f.Interface.PostDown
	in.SaveConfig = true
	logf("saving configuration of %s to %s", q.ifname, q.path)
	return config.WriteFile(q.path, out)
}

// orderLike returns have with the prefixes that were in the file first,
// in the file's order, then the others as listed.
func orderLike(have, file []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range file {
		if slices.Contains(have, p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	for _, p := range have {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
