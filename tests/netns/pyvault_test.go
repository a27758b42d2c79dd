// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requirePythonGRPC returns a Python 3 with Debian's python3-grpcio and
// python3-cryptography, preferring /usr/bin/python3 over whatever else is
// on PATH. Missing, the test skips (fails under CI=true).
func requirePythonGRPC(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import grpc, cryptography").Run() == nil {
			return p
		}
	}
	const msg = "python3 with grpc and cryptography missing (apt-get install python3-grpcio python3-cryptography; scripts/test.sh installs them)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestPythonKeyVaultTunnel carries a tunnel between wgplex, whose static
// key lives in the Python example vault (plugins/examples/python-keyvault,
// a plugin written without the Go SDK), and wireguard-go. wgplex show
// reports the plugin in its own section and in --json; wg(8)'s formats
// never see it.
func TestPythonKeyVaultTunnel(t *testing.T) {
	impl, ref := implUnderTest(t), implReference(t)
	if impl.Name != "wgplex" {
		t.Skip("key vault plugins are a wgplex feature")
	}
	py := requirePythonGRPC(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "plugins", "examples", "python-keyvault", "keyvault.py")

	a, b := NewNetns(t), NewNetns(t)
	Veth(t, a, "ul0", b, "ul0")
	a.AddAddr("ul0", "10.213.7.1/24")
	b.AddAddr("ul0", "10.213.7.2/24")
	keyA, keyB := GenKey(t), GenKey(t)
	keyFile := writeTemp(t, "a.key", keyA.Private+"\n")

	da := startDaemonArgs(t, a, impl, nil, "--keyvault", py+" "+script+" -key "+keyFile)
	db := StartDaemon(t, b, ref)
	da.Wg("set", da.Iface, "listen-port", "51001",
		"peer", keyB.Public, "allowed-ips", "10.214.7.2/32", "endpoint", "10.213.7.2:51002")
	db.Wg("set", db.Iface, "listen-port", "51002", "private-key", writeTemp(t, "b.key", keyB.Private),
		"peer", keyA.Public, "allowed-ips", "10.214.7.1/32", "endpoint", "10.213.7.1:51001")
	da.Up("10.214.7.1/24")
	db.Up("10.214.7.2/24")
	Ping(t, a, "10.214.7.2", 3)
	Ping(t, b, "10.214.7.1", 3)

	show := a.MustRun(impl.Bin, "show", da.Iface)
	for _, want := range []string{"public key: " + keyA.Public, "private key: (held by a key vault)", "plugin: python3", "kind: keyvault", "state: up", "restarts: 0"} {
		if !strings.Contains(show, want) {
			t.Errorf("wgplex show lacks %q:\n%s", want, show)
		}
	}
	var js struct {
		PublicKey string `json:"public_key"`
		Peers     []struct {
			PublicKey       string `json:"public_key"`
			LatestHandshake int64  `json:"latest_handshake"`
		} `json:"peers"`
		Plugins []struct {
			Name     string `json:"name"`
			Kind     string `json:"kind"`
			Up       bool   `json:"up"`
			Protocol int    `json:"protocol"`
		} `json:"plugins"`
	}
	out := a.MustRun(impl.Bin, "show", "--json", da.Iface)
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("wgplex show --json: %v\n%s", err, out)
	}
	if js.PublicKey != keyA.Public || len(js.Peers) != 1 || js.Peers[0].LatestHandshake == 0 ||
		len(js.Plugins) != 1 || js.Plugins[0].Name != "python3" || js.Plugins[0].Kind != "keyvault" || !js.Plugins[0].Up || js.Plugins[0].Protocol != 1 {
		t.Errorf("wgplex show --json:\n%s", out)
	}
	for _, args := range [][]string{{"show", da.Iface}, {"show", da.Iface, "dump"}, {"showconf", da.Iface}} {
		if out := da.Wg(args...); strings.Contains(out, "plugin") {
			t.Errorf("wg %v shows the plugin:\n%s", args, out)
		}
	}
	if out := a.MustRun(impl.Bin, "show", da.Iface, "dump"); strings.Contains(out, "plugin") {
		t.Errorf("wgplex show dump carries the plugin section:\n%s", out)
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatal(err)
	}
}
