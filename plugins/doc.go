// SPDX-License-Identifier: MIT

// Package plugins is the daemon's side of wgplex plugins: it launches plugin
// binaries through github.com/hashicorp/go-plugin over gRPC (with automatic
// mutual TLS), supervises them (start timeout, periodic health checks,
// restart with exponential backoff when one dies, per-call timeouts), makes
// sure none outlives the daemon, relays their logs into the daemon's slog
// logger tagged with the plugin's name, and adapts each plugin kind to the
// core port it serves: a key vault becomes a core.KeyStore.
//
// A plugin is a separate process, so a crash, a hang or a bad reply costs
// at most the operation that needed it: for a key vault, a handshake fails
// (the peer retries it) while established sessions keep flowing.
//
// What plugin authors import is package plugins/sdk; this package is for
// the daemon and for tools that drive a plugin once (wgplex vault-genkey).
package plugins
