// SPDX-License-Identifier: MIT

// Package config reads and writes WireGuard configuration files: the
// format wg(8) takes with setconf, addconf and syncconf, and its superset
// that wg-quick(8) reads (Address, DNS, MTU, Table, the Pre/Post Up/Down
// hooks and SaveConfig in [Interface]).
//
// Parsing follows wg's rules so that a file either tool accepts means the
// same here: everything from the first '#' on a line is a comment, section
// headers and key names are matched without regard to case, and the wg keys
// have all white space removed from their line before they are read (so
// "AllowedIPs = 10.0.0.0/8, fd00::/8" and "allowedips=10.0.0.0/8,fd00::/8"
// are the same line). The wg-quick keys keep their inner white space, as
// wg-quick does, because PostUp and friends are shell commands.
//
// A parse error is an *Error that reads "file:line: what is wrong". It never
// contains the value of a PrivateKey or PresharedKey line.
//
// The package does no I/O beyond reading what it is given, except that
// ResolveEndpoint looks host names up and WriteFile writes a file. Applying
// a file to an interface is a core.Config change set: see File.SetConf,
// File.AddConf and File.SyncConf.
package config

import (
	"fmt"
	"net/netip"

	"github.com/wgplex/wgplex/core"
)

// File is one parsed configuration file. Pointer fields are nil when the
// file does not set them, which matters for addconf (nothing is changed)
// and for setconf (the interface is reset to the default).
type File struct {
	// Name is the file name errors are reported against.
	Name string
	// Interface is the [Interface] section; several [Interface] headers in
	// one file add to the same section, as in wg(8).
	Interface Interface
	// Peers are the [Peer] sections in file order.
	Peers []Peer

	// quickLine and quickKey locate the first wg-quick key, for WGOnly.
	quickLine int
	quickKey  string
}

// Interface is the [Interface] section: the keys wg(8) knows followed by
// the ones only wg-quick(8) acts on.
type Interface struct {
	// PrivateKey is the interface's static key.
	PrivateKey *core.PrivateKey
	// ListenPort is the UDP port; 0 means "pick one".
	ListenPort *uint16
	// FwMark is the firewall mark of outgoing packets; 0 ("off") clears it.
	FwMark *uint32

	// Address lists the interface's addresses with their prefix length,
	// host bits kept ("10.0.0.1/24"). An address written without a length
	// gets the full one (/32 or /128), as ip(8) gives it.
	Address []netip.Prefix
	// DNS lists the resolvers to install while the interface is up.
	DNS []netip.Addr
	// DNSSearch lists the search domains: the DNS entries that are not
	// IP addresses, told apart the way wg-quick tells them apart.
	DNSSearch []string
	// MTU is the interface MTU; 0 leaves it to be worked out from the
	// routes to the endpoints.
	MTU int
	// Table says where the routes for AllowedIPs go: "" or TableAuto for
	// the main table (or, for a default route, a table of its own with
	// policy rules), TableOff for no routes at all, or a table number or
	// name from /etc/iproute2/rt_tables.
	Table string
	// PreUp, PostUp, PreDown and PostDown are shell commands, run in order
	// around bringing the interface up and down.
	PreUp, PostUp, PreDown, PostDown []string
	// SaveConfig asks for the running configuration to be written back to
	// the file when the interface is taken down.
	SaveConfig bool
}

// Special values of Interface.Table.
const (
	// TableAuto is the default: routes in the main table, or the policy
	// routing arrangement when a peer has a default route.
	TableAuto = "auto"
	// TableOff installs no routes.
	TableOff = "off"
)

// HasQuickKeys reports whether the section sets any key that only
// wg-quick(8) understands; wg(8) rejects a file that does.
func (i *Interface) HasQuickKeys() bool {
	return len(i.Address) > 0 || len(i.DNS) > 0 || len(i.DNSSearch) > 0 || i.MTU != 0 ||
		i.Table != "" || len(i.PreUp) > 0 || len(i.PostUp) > 0 || len(i.PreDown) > 0 ||
		len(i.PostDown) > 0 || i.SaveConfig
}

// Peer is one [Peer] section.
type Peer struct {
	// PublicKey identifies the peer; every [Peer] must have one.
	PublicKey core.PublicKey
	// PresharedKey is the optional symmetric key.
	PresharedKey *core.PresharedKey
	// AllowedIPs accumulates every AllowedIPs line of the section, in
	// order, host bits as written (the tunnel masks them).
	AllowedIPs []netip.Prefix
	// Endpoint is the remote address as written: "host:port", "ip:port"
	// or "[ipv6]:port". It is resolved only when the file is applied, so
	// that formatting a file back keeps host names.
	Endpoint string
	// PersistentKeepalive is the keepalive interval in seconds; 0 ("off")
	// disables it.
	PersistentKeepalive *uint16
	// Line is the line of the section's [Peer] header, for messages about
	// the peer as a whole.
	Line int

	endpointLine int
}

// Error is a problem with a configuration file, located by line.
type Error struct {
	// File is the file name as given to Parse.
	File string
	// Line is 1-based; 0 for problems with the file as a whole.
	Line int
	// Msg says what is wrong; it never quotes a secret key.
	Msg string
	// Err is the underlying cause, if any, for errors.Is and errors.As.
	Err error
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Error returns "file:line: message".
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}
