// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/coretest"
	"github.com/wgplex/wgplex/plugins"
)

// TestDiscoveryDirPluginKilled runs the directory plugin as a real
// process, kills it with SIGKILL, changes the directory while it is down,
// and checks that the peers stayed meanwhile and that the restarted
// plugin's snapshot removed exactly the one that left.
func TestDiscoveryDirPluginKilled(t *testing.T) {
	binDir := t.TempDir()
	if err := goBuild(binDir, "./discovery-dir"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nw := coretest.NewMemNetwork()
	tun, err := core.NewTunnel(core.Options{Device: coretest.NewMemDevice("wgt", 1420), Bind: nw.NewBind(netip.MustParseAddr("192.0.2.1"))})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	own := newTestKey(t)
	priv := core.PrivateKey(own.priv)
	if err := tun.Apply(core.Config{PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	manual, a, b := newTestKey(t).pub, newTestKey(t).pub, newTestKey(t).pub
	if err := tun.Apply(core.Config{Peers: []core.PeerConfig{{PublicKey: manual,
		AllowedIPs: []core.AllowedIPChange{{Prefix: netip.MustParsePrefix("10.9.0.0/24")}}}}}); err != nil {
		t.Fatal(err)
	}
	write := func(name string, k [32]byte, host int) {
		t.Helper()
		text := fmt.Sprintf("[Peer]\nPublicKey = %s\nAllowedIPs = 10.0.0.%d/32\nEndpoint = 198.51.100.%d:51820\n", config.FormatKey(k), host, host)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.conf", a, 1)
	write("b.conf", b, 2)

	log, _ := newLogger(t)
	d, err := plugins.StartDiscovery(plugins.Config{
		Command:    []string{filepath.Join(binDir, "discovery-dir"), "-dir", dir, "-interval", "50ms"},
		Logger:     log,
		MinBackoff: 300 * time.Millisecond,
	}, plugins.DiscoveryOptions{
		Tunnel:       tun,
		Announce:     plugins.Announcement{Name: "self", Endpoints: []string{"192.0.2.1:51820"}, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.100/32")}},
		SelfInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	has := func(k core.PublicKey) bool {
		for _, p := range tun.Snapshot().Peers {
			if p.PublicKey == k {
				return true
			}
		}
		return false
	}
	waitFor(t, 5*time.Second, "both peers", func() bool { return has(a) && has(b) })
	selfFile := filepath.Join(dir, "node-"+strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(config.FormatKey(own.pub)), "=")+".conf")
	waitFor(t, 5*time.Second, "the node's own file", func() bool { _, err := os.Stat(selfFile); return err == nil })

	pid := d.Plugin().Pid()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the plugin seen down", func() bool { return !d.Plugin().Up() })
	if err := os.Remove(filepath.Join(dir, "b.conf")); err != nil {
		t.Fatal(err)
	}
	if !has(a) || !has(b) || !has(manual) {
		t.Fatal("peers changed when the plugin died")
	}
	waitFor(t, 10*time.Second, "the restarted plugin's resync", func() bool { return d.Plugin().Restarts() > 0 && !has(b) })
	if !has(a) || !has(manual) {
		t.Fatal("the resync removed more than the peer that left")
	}
	if n := len(d.Managed()); n != 1 {
		t.Fatalf("managed %d peers, want 1", n)
	}
	d.Close()
	if _, err := os.Stat(selfFile); !os.IsNotExist(err) {
		t.Errorf("the node's own file outlived the plugin: %v", err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
