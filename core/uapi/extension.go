// SPDX-License-Identifier: MIT

package uapi

import "strings"

// PluginExtension is the device-level get key of one plugin's state (a
// JSON object, see plugins.State), one line per plugin the daemon runs.
// `wgplex show` prints them; wg(8) and wgctrl skip keys they do not know.
const PluginExtension = "wgplex_plugin"

// extensionPrefix starts every extension key, so that no future key of the
// reference protocol can collide with one.
const extensionPrefix = "wgplex_"

// Bounds on extension lines, on both sides of the socket.
const (
	maxExtensionValue = 4096
	maxExtensions     = 256
)

// Extension is one extra device-level key=value line of a get reply.
type Extension struct {
	Key, Value string
}

// Valid reports whether e can be written as one line that every reader
// frames correctly: a key of lower-case letters, digits and '_' starting
// with "wgplex_", a value without newline or NUL, both bounded.
func (e Extension) Valid() bool {
	if !strings.HasPrefix(e.Key, extensionPrefix) || len(e.Key) > 64 || e.Key == PublicKeyExtension {
		return false
	}
	for _, c := range []byte(e.Key) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return len(e.Value) <= maxExtensionValue && !strings.ContainsAny(e.Value, "\n\x00")
}

// Extender may be implemented by a Handler to add extension lines to every
// get reply; it is called once per reply.
type Extender interface {
	Extensions() []Extension
}
