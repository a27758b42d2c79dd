// SPDX-License-Identifier: MIT

// Package sdk is what a wgplex plugin author imports: the Go interface of
// each plugin kind, the go-plugin handshake both sides must agree on, the
// gRPC wrappers that carry the interface across the process boundary, and a
// Serve function that turns an implementation into a plugin binary.
//
// A key vault plugin is one short main:
//
//	func main() { sdk.ServeKeyVault(&myVault{}) }
//
// The daemon side (package plugins) uses the same wrappers in the other
// direction, so both ends validate what they receive in the same way.
package sdk

import (
	"github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the newest go-plugin application protocol version of
// this SDK. It changes only when a plugin kind's gRPC service changes
// incompatibly (a new wgplex.<kind>.v2 package). Versions are served side by
// side: the daemon offers every version it speaks (VersionedPluginMap), a
// plugin serves one or more (ServeVersions), and go-plugin settles on the
// newest both know. A daemon and a plugin with no version in common refuse
// each other at start with both lists in the error.
const ProtocolVersion = 1

// MagicCookieKey and MagicCookieValue are the environment variable the
// daemon sets when it launches a plugin. A plugin binary started by hand
// (or by another go-plugin host) does not find it and exits with a message
// instead of waiting for a handshake that never comes. They are not a
// secret and not a security measure.
const (
	MagicCookieKey   = "WGPLEX_PLUGIN"
	MagicCookieValue = "b9a3c0e4-wgplex-plugin-2f1d7e6a"
)

// Handshake is the go-plugin handshake configuration of every wgplex plugin.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}

// Plugin kinds: the names under which each kind is registered in the
// go-plugin plugin map and dispensed by the daemon. A binary serves one kind.
const (
	// KindKeyVault is a key vault (service wgplex.keyvault.v1.KeyVault).
	KindKeyVault = "keyvault"
)

// PluginMap is the set of plugin kinds the daemon knows, for
// plugin.ClientConfig.Plugins. The zero-value entries carry no
// implementation; they only tell go-plugin how to build gRPC clients.
func PluginMap() plugin.PluginSet {
	return plugin.PluginSet{
		KindKeyVault:  &KeyVaultPlugin{},
		KindDiscovery: &DiscoveryPlugin{},
	}
}

// VersionedPluginMap is what the daemon offers, per protocol version: the
// plugin kinds it can dispense in that version. A new protocol version is
// added here beside the old ones, so that plugins built against an older
// SDK keep working.
func VersionedPluginMap() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: PluginMap(),
	}
}
