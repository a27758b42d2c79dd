// SPDX-License-Identifier: MIT

package hostnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
)

// Undo takes back every change in st, last first, and empties the list.
// A change whose object is already gone (the interface was deleted by
// hand, the route went with it) counts as undone. It carries on past a
// failure and returns them all; the state keeps what could not be undone.
func (h *Host) Undo(st *State) error {
	var errs []error
	var left []Change
	for i := len(st.Changes) - 1; i >= 0; i-- {
		c := st.Changes[i]
		if err := h.undo(c); err != nil {
			errs = append(errs, err)
			left = append([]Change{c}, left...)
		}
	}
	st.Changes = left
	if err := st.Save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (h *Host) undo(c Change) error {
	switch c.Kind {
	case KindLink:
		return h.DeleteLink(c.Name)
	case KindAddress:
		l, err := h.nl.LinkByName(c.Name)
		if isGone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		h.logf("ip -%d address del %s dev %s", family(c.Prefix), c.Prefix, c.Name)
		if err := h.nl.AddrDel(l, &netlink.Addr{IPNet: ipNet(c.Prefix, false)}); err != nil && !isGone(err) {
			return fmt.Errorf("delete address %s from %s: %w", c.Prefix, c.Name, err)
		}
	case KindRoute:
		l, err := h.nl.LinkByName(c.Name)
		if isGone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		h.logf("ip -%d route del %s dev %s table %d", family(c.Prefix), c.Prefix, c.Name, c.Table)
		if err := h.nl.RouteDel(h.route(l.Attrs().Index, c.Prefix, c.Table)); err != nil && !isGone(err) {
			return fmt.Errorf("delete route %s dev %s table %d: %w", c.Prefix, c.Name, c.Table, err)
		}
	case KindRule:
		r := netlink.NewRule()
		r.Family, r.Table, r.Mark, r.Invert, r.Priority = nlFamily(c.Family), c.Table, c.Mark, c.Invert, c.Priority
		if c.SuppressPrefixlen != nil {
			r.SuppressPrefixlen = *c.SuppressPrefixlen
		}
		rule := Rule{Family: c.Family, Table: c.Table, Mark: c.Mark, Invert: c.Invert, SuppressPrefixlen: r.SuppressPrefixlen}
		h.logf("%s", strings.Replace(rule.String(), " rule add ", fmt.Sprintf(" rule del priority %d ", c.Priority), 1))
		if err := h.nl.RuleDel(r); err != nil && !isGone(err) {
			return fmt.Errorf("delete rule %d: %w", c.Priority, err)
		}
	case KindSysctl:
		if c.Old == nil {
			return nil
		}
		if c.Path == srcValidMark {
			// Another interface may still route a default route
			// through the fwmark arrangement, which needs the
			// setting; it stays until the last one goes.
			if busy, err := h.HasSuppressRule(); err == nil && busy {
				h.logf("leaving %s at 1: another interface's policy routing needs it", c.Path)
				return nil
			}
		}
		return h.writeSysctl(c.Path, *c.Old)
	case KindResolvconf:
		return unsetResolvconf(h, c.Name)
	case KindFile:
		return h.restoreFile(c)
	case KindNftTable:
		return h.deleteNftTable(c)
	default:
		return fmt.Errorf("unknown change kind %q in the state file", c.Kind)
	}
	return nil
}

// srcValidMark is the sysctl that lets reverse-path filtering take the
// firewall mark into account, which the fwmark arrangement for a default
// route needs for replies to come back in.
const srcValidMark = "net/ipv4/conf/all/src_valid_mark"

// SetSrcValidMark sets net.ipv4.conf.all.src_valid_mark to 1, recording
// the old value when it was not already 1.
func (h *Host) SetSrcValidMark(st *State) error {
	old, err := h.readSysctl(srcValidMark)
	if err != nil {
		return err
	}
	if old == "1" {
		return nil
	}
	h.logf("sysctl -q net.ipv4.conf.all.src_valid_mark=1")
	if err := h.writeSysctl(srcValidMark, "1"); err != nil {
		return err
	}
	return st.Record(Change{Kind: KindSysctl, Path: srcValidMark, Old: &old})
}

func (h *Host) readSysctl(key string) (string, error) {
	var v string
	err := h.Do(func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", key))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

func (h *Host) writeSysctl(key, value string) error {
	return h.Do(func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value+"\n"), 0o644)
	})
}
