// SPDX-License-Identifier: MIT

package plugins

// State is what an operator sees of a plugin: whether it runs, how often it
// was restarted and the last thing that went wrong.
type State struct {
	// Name is the plugin's label (Config.Name).
	Name string `json:"name"`
	// Kind is the plugin kind (keyvault, discovery).
	Kind string `json:"kind"`
	// Up is true while the plugin runs and takes calls.
	Up bool `json:"up"`
	// Pid is the plugin's process id, 0 while down.
	Pid int `json:"pid,omitempty"`
	// Protocol is the plugin protocol version it negotiated, 0 while down.
	Protocol int `json:"protocol,omitempty"`
	// Restarts counts launches after the first.
	Restarts uint64 `json:"restarts"`
	// LastError is the last failed call, health check or start, empty if
	// none happened yet.
	LastError string `json:"last_error,omitempty"`
}

// State returns a snapshot of the plugin's state.
func (p *Plugin) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return State{
		Name:      p.cfg.Name,
		Kind:      p.cfg.Kind,
		Up:        p.client != nil,
		Pid:       p.pid,
		Protocol:  p.proto,
		Restarts:  p.restarts.Load(),
		LastError: p.lastErr,
	}
}

// ProtocolVersion is the plugin protocol version the running plugin
// negotiated, 0 while it is down.
func (p *Plugin) ProtocolVersion() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proto
}

// noteError keeps err as the plugin's last error for State.
func (p *Plugin) noteError(err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if len(msg) > maxLastError {
		msg = msg[:maxLastError] + "..."
	}
	p.mu.Lock()
	p.lastErr = msg
	p.mu.Unlock()
}

// maxLastError bounds the last error kept per plugin; it travels to the
// CLI in every `wgplex show`.
const maxLastError = 512

// Impl is the value the running plugin dispensed (an sdk.KeyVault, an
// sdk.Discovery), nil while it is down. Calls made on it bypass the call
// timeout, the metrics and the supervisor: it is for test harnesses such
// as sdktest, which must hand their own deadlines to the plugin.
func (p *Plugin) Impl() any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.impl
}
