// SPDX-License-Identifier: MIT

package hostnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// DefaultStateDir is where "wgplex up" keeps one state file per interface.
// It is on a tmpfs on every current distribution, so a reboot, which also
// forgets every change recorded, forgets the records too.
const DefaultStateDir = "/run/wgplex"

// Kind names what a Change did.
type Kind string

// The kinds of change a State records.
const (
	// KindLink: the interface Name was created (its daemon started).
	// Undoing it deletes the interface.
	KindLink Kind = "link"
	// KindAddress: Prefix was added to interface Name.
	KindAddress Kind = "address"
	// KindRoute: a route to Prefix through interface Name in Table.
	KindRoute Kind = "route"
	// KindRule: a policy routing rule (Family, Priority, Table, Mark,
	// Invert, SuppressPrefixlen).
	KindRule Kind = "rule"
	// KindSysctl: the file Path under /proc/sys was changed from Old.
	KindSysctl Kind = "sysctl"
	// KindResolvconf: resolvconf(8) was given the record Name.
	KindResolvconf Kind = "resolvconf"
	// KindFile: the file Path was written; Old is what it held before
	// (nil: it did not exist) and Dir a directory created for it.
	KindFile Kind = "file"
	// KindNftTable: the nftables table Name of Family (4 or 6) was
	// created (the full-tunnel firewall). Undoing it deletes the table.
	KindNftTable Kind = "nft_table"
)

// Change is one thing done to the host, with what it takes to undo it.
// Only the fields its Kind names are set.
type Change struct {
	Kind              Kind         `json:"kind"`
	Name              string       `json:"name,omitempty"`
	Prefix            netip.Prefix `json:"prefix,omitzero"`
	Table             int          `json:"table,omitempty"`
	Family            int          `json:"family,omitempty"`
	Priority          int          `json:"priority,omitempty"`
	Mark              uint32       `json:"mark,omitempty"`
	Invert            bool         `json:"invert,omitempty"`
	SuppressPrefixlen *int         `json:"suppress_prefixlength,omitempty"`
	Path              string       `json:"path,omitempty"`
	Old               *string      `json:"old,omitempty"`
	Dir               string       `json:"dir,omitempty"`
}

// State is what "up" did for one interface, in order. It is saved after
// every change, so that the file is never behind the host.
type State struct {
	// Interface is the interface name.
	Interface string `json:"interface"`
	// Netns is the namespace the interface and its routes live in; empty
	// for the namespace "up" ran in.
	Netns string `json:"netns,omitempty"`
	// Config is the configuration file "up" read.
	Config string `json:"config,omitempty"`
	// AutoFwMark is the firewall mark "up" chose for the policy routing
	// of a default route, 0 if the file set one or none was needed. It
	// is kept out of the file SaveConfig writes, as it was not the
	// user's.
	AutoFwMark uint32 `json:"auto_fwmark,omitempty"`
	// Changes in the order they were made.
	Changes []Change `json:"changes"`

	path string
}

// NewState starts the record for ifname, to be saved in dir.
func NewState(dir, ifname, netnsName, config string) *State {
	return &State{Interface: ifname, Netns: netnsName, Config: config, path: statePath(dir, ifname)}
}

// LoadState reads the record "up" left for ifname in dir. A missing file
// is an error that matches fs.ErrNotExist.
func LoadState(dir, ifname string) (*State, error) {
	path := statePath(dir, ifname)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Interface != ifname {
		return nil, fmt.Errorf("%s: records interface %q, not %q", path, s.Interface, ifname)
	}
	s.path = path
	return &s, nil
}

// StateExists reports whether dir holds a record for ifname.
func StateExists(dir, ifname string) bool {
	_, err := os.Stat(statePath(dir, ifname))
	return !errors.Is(err, fs.ErrNotExist)
}

func statePath(dir, ifname string) string { return filepath.Join(dir, ifname+".state") }

// Path returns the file the state is saved to.
func (s *State) Path() string { return s.path }

// Record appends c and saves the state.
func (s *State) Record(c Change) error {
	s.Changes = append(s.Changes, c)
	return s.Save()
}

// Save writes the state file (mode 0600, through a rename, so that a
// crash leaves the old or the new file, never half of one).
func (s *State) Save() error {
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// Remove deletes the state file; a file already gone is not an error.
func (s *State) Remove() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
