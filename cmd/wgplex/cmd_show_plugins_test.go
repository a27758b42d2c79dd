// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/plugins"
)

func TestShowPluginsSection(t *testing.T) {
	states := []plugins.State{
		{Name: "keyvault-file", Kind: "keyvault", Up: true, Pid: 42, Protocol: 1, Restarts: 2, LastError: "plugin keyvault-file: DH: timeout\x1b[31m"},
		{Name: "discovery-dir", Kind: "discovery", Restarts: 7},
	}
	var ext []uapi.Extension
	for _, st := range states {
		b, _ := json.Marshal(st)
		ext = append(ext, uapi.Extension{Key: uapi.PluginExtension, Value: string(b)})
	}
	ext = append(ext, uapi.Extension{Key: uapi.PluginExtension, Value: "not json"}, uapi.Extension{Key: "wgplex_other", Value: "{}"})
	got := pluginStates(ext)
	if len(got) != 2 || got[0] != states[0] || got[1] != states[1] {
		t.Fatalf("decoded %+v", got)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	prettyPlugins(w, got, false)
	w.Flush()
	want := `
plugin: keyvault-file
  kind: keyvault
  state: up (pid 42, protocol 1)
  restarts: 2
  last error: plugin keyvault-file: DH: timeout?[31m

plugin: discovery-dir
  kind: discovery
  state: down
  restarts: 7
`
	if buf.String() != want {
		t.Fatalf("got:\n%q\nwant:\n%q", buf.String(), want)
	}
}

func TestShowJSONHasNoSecrets(t *testing.T) {
	priv := core.PrivateKey(testKey(3))
	s := core.Snapshot{PrivateKey: &priv, PublicKey: priv.PublicKey(), ListenPort: 51820,
		Peers: []core.PeerSnapshot{{PublicKey: testKey(4), PresharedKey: testKey(5)}}}
	b, err := json.Marshal(toShowJSON("wg0", s, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{key(testKey(3)), key(testKey(5))} {
		if strings.Contains(string(b), secret) {
			t.Fatalf("a secret key in %s", b)
		}
	}
	var back map[string]any
	json.Unmarshal(b, &back)
	if back["has_private_key"] != true || back["public_key"] != key(priv.PublicKey()) || back["plugins"] == nil {
		t.Fatalf("%s", b)
	}
}

func TestNoPluginLinesWithoutPlugins(t *testing.T) {
	if ext := (uapiHandler{}).Extensions(); len(ext) != 0 {
		t.Fatalf("extensions without plugins: %v", ext)
	}
}
