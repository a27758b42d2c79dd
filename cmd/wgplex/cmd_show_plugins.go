// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/plugins"
)

// The plugins section of show: wgplex's own addition to the pretty output
// and the --json form. wg(8)'s formats (dump, the field arguments,
// showconf) never carry it, so scripts written for wg read the same.

// getDeviceWithPlugins reads an interface and the state of the plugins its
// daemon runs.
func getDeviceWithPlugins(ifname string) (core.Snapshot, []plugins.State, error) {
	c, err := dialInterface(ifname)
	if err != nil {
		return core.Snapshot{}, nil, err
	}
	defer c.Close()
	s, ext, err := c.GetExtended()
	if err != nil {
		return core.Snapshot{}, nil, err
	}
	return s, pluginStates(ext), nil
}

// pluginStates decodes the plugin lines; a line that does not decode is
// skipped (an older or newer daemon), never fatal.
func pluginStates(ext []uapi.Extension) []plugins.State {
	var out []plugins.State
	for _, e := range ext {
		if e.Key != uapi.PluginExtension {
			continue
		}
		var st plugins.State
		if json.Unmarshal([]byte(e.Value), &st) == nil && st.Name != "" {
			out = append(out, st)
		}
	}
	return out
}

// printable keeps text from the daemon (a plugin's error message) from
// moving the cursor or coloring the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}

// prettyPlugins is the plugins section after the peers.
func prettyPlugins(w *bufio.Writer, states []plugins.State, color bool) {
	p := painter{w: w, color: color}
	for _, st := range states {
		p.printf("\n"+termCyan+termBold+"plugin"+termReset+": "+termCyan+"%s"+termReset+"\n", printable(st.Name))
		p.printf("  "+termBold+"kind"+termReset+": %s\n", printable(st.Kind))
		if st.Up {
			detail := fmt.Sprintf("protocol %d", st.Protocol)
			if st.Pid != 0 {
				detail = fmt.Sprintf("pid %d, %s", st.Pid, detail)
			}
			p.printf("  "+termBold+"state"+termReset+": "+termGreen+"up"+termReset+" (%s)\n", detail)
		} else {
			p.printf("  " + termBold + "state" + termReset + ": " + termRed + "down" + termReset + "\n")
		}
		p.printf("  "+termBold+"restarts"+termReset+": %d\n", st.Restarts)
		if st.LastError != "" {
			p.printf("  "+termBold+"last error"+termReset+": %s\n", printable(st.LastError))
		}
	}
}

// showJSON is one interface in `wgplex show --json`. Secrets are never in
// it: whether a private or preshared key is set, not the key.
type showJSON struct {
	Interface     string          `json:"interface"`
	PublicKey     string          `json:"public_key,omitempty"`
	HasPrivateKey bool            `json:"has_private_key"`
	ListenPort    uint16          `json:"listen_port,omitempty"`
	FwMark        uint32          `json:"fwmark,omitempty"`
	Peers         []peerJSON      `json:"peers"`
	Plugins       []plugins.State `json:"plugins"`
}

type peerJSON struct {
	PublicKey           string   `json:"public_key"`
	HasPresharedKey     bool     `json:"has_preshared_key"`
	Endpoint            string   `json:"endpoint,omitempty"`
	AllowedIPs          []string `json:"allowed_ips"`
	LatestHandshake     int64    `json:"latest_handshake"`
	RxBytes             uint64   `json:"rx_bytes"`
	TxBytes             uint64   `json:"tx_bytes"`
	PersistentKeepalive uint16   `json:"persistent_keepalive,omitempty"`
}

func toShowJSON(name string, s core.Snapshot, states []plugins.State) showJSON {
	out := showJSON{Interface: name, HasPrivateKey: s.PrivateKey != nil && !s.PrivateKey.IsZero(),
		ListenPort: s.ListenPort, FwMark: s.FwMark, Peers: []peerJSON{}, Plugins: states}
	if !s.PublicKey.IsZero() {
		out.PublicKey = key(s.PublicKey)
	}
	if out.Plugins == nil {
		out.Plugins = []plugins.State{}
	}
	for i := range s.Peers {
		p := &s.Peers[i]
		pj := peerJSON{PublicKey: key(p.PublicKey), HasPresharedKey: !p.PresharedKey.IsZero(),
			AllowedIPs: []string{}, LatestHandshake: handshakeSec(p), RxBytes: p.RxBytes, TxBytes: p.TxBytes,
			PersistentKeepalive: p.PersistentKeepalive}
		if p.Endpoint.IsValid() {
			pj.Endpoint = p.Endpoint.String()
		}
		for _, a := range p.AllowedIPs {
			pj.AllowedIPs = append(pj.AllowedIPs, a.String())
		}
		out.Peers = append(out.Peers, pj)
	}
	return out
}

// runShowJSON is `wgplex show --json [<interface> | all]`: one object for
// an interface, an array for all of them.
func runShowJSON(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		showUsage(stderr)
		return 1
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if len(args) == 1 && args[0] != "all" {
		s, states, err := getDeviceWithPlugins(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "Unable to access interface: %s\n", strerror(err))
			return 1
		}
		enc.Encode(toShowJSON(args[0], s, states))
		return 0
	}
	names, err := listInterfaces()
	if err != nil {
		fmt.Fprintf(stderr, "Unable to list interfaces: %s\n", strerror(err))
		return 1
	}
	all := []showJSON{}
	for _, name := range names {
		s, states, err := getDeviceWithPlugins(name)
		if err != nil {
			fmt.Fprintf(stderr, "Unable to access interface %s: %s\n", name, strerror(err))
			continue
		}
		all = append(all, toShowJSON(name, s, states))
	}
	enc.Encode(all)
	if len(names) > 0 && len(all) == 0 {
		return 1
	}
	return 0
}
