// SPDX-License-Identifier: MIT

package main

import (
	"encoding/json"
	"slices"
	"sync"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/plugins"
)

// pluginHost is what the daemon's plugins share: the list of those
// running, the plugin host's metrics and the debug reattach option.
type pluginHost struct {
	// running are the plugins the daemon supervises, for the plugin lines
	// of the UAPI get reply that `wgplex show` prints.
	running pluginRegistry
	// metrics are the plugin host's series, shared by every plugin.
	metrics  *plugins.Metrics
	reattach *string
}

func newPluginHost() *pluginHost { return &pluginHost{metrics: plugins.NewMetrics()} }

type pluginRegistry struct {
	mu   sync.Mutex
	list []*plugins.Plugin
}

func (r *pluginRegistry) add(p *plugins.Plugin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, p)
}

func (r *pluginRegistry) remove(p *plugins.Plugin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = slices.DeleteFunc(r.list, func(q *plugins.Plugin) bool { return q == p })
}

// extensions is one uapi.PluginExtension line per plugin, its State as
// JSON (which escapes newlines, so a plugin's error text cannot break the
// reply's framing).
func (r *pluginRegistry) extensions() []uapi.Extension {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	list := slices.Clone(r.list)
	r.mu.Unlock()
	ext := make([]uapi.Extension, 0, len(list))
	for _, p := range list {
		b, err := json.Marshal(p.State())
		if err != nil {
			continue
		}
		ext = append(ext, uapi.Extension{Key: uapi.PluginExtension, Value: string(b)})
	}
	return ext
}

// uapiHandler is the tunnel as the UAPI server sees it, with the plugin
// lines added to every get reply.
type uapiHandler struct {
	*core.Tunnel
	plugins *pluginRegistry
}

// BeginRequest implements uapi.RequestHooks: a UAPI request is parsed,
// applied or written out with a second P (procs.go).
func (uapiHandler) BeginRequest() { daemonProcs.enter() }

// EndRequest implements uapi.RequestHooks.
func (uapiHandler) EndRequest() { daemonProcs.exit() }

// Extensions implements uapi.Extender.
func (h uapiHandler) Extensions() []uapi.Extension { return h.plugins.extensions() }
