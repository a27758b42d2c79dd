// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Where the wgplex package installs what this test checks.
const (
	installedBin       = "/usr/bin/wgplex"
	installedPluginDir = "/usr/lib/wgplex/plugins"
)

// TestInstalledPackage checks the wgplex package installed on this
// machine: its files are in place, the binary reports the package's
// version, the installed completions are what the binary generates, and
// a tunnel comes up between two namespaces with the installed daemon, one
// side keeping its key in the installed keyvault-file plugin, named
// without a path: the daemon must run the packaged plugin, not a decoy of
// the same name earlier in PATH. scripts/test.sh installs the built .deb,
// runs this test with WGPLEX_TEST_INSTALLED=1 and purges the package.
func TestInstalledPackage(t *testing.T) {
	if os.Getenv("WGPLEX_TEST_INSTALLED") == "" {
		t.Skip("WGPLEX_TEST_INSTALLED is not set: this test checks an installed wgplex package " +
			"(scripts/test.sh installs dist/wgplex_*.deb, runs it and purges the package)")
	}
	requireHost(t)
	for _, f := range []string{
		installedBin,
		installedPluginDir + "/keyvault-file",
		installedPluginDir + "/discovery-etcd",
		installedPluginDir + "/discovery-dir",
		"/usr/share/man/man8/wgplex.8.gz",
		"/usr/share/doc/wgplex/copyright",
		"/usr/share/doc/wgplex/changelog.Debian.gz",
		"/usr/lib/systemd/system/wgplex@.service",
		"/usr/lib/systemd/system/wgplex-daemon@.service",
	} {
		if !fileExists(f) {
			t.Fatalf("%s is missing: is the wgplex package installed?", f)
		}
	}
	if st, err := os.Stat("/etc/wireguard"); err != nil || !st.IsDir() || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("/etc/wireguard after installation: %v, mode %v; want a directory closed to group and others", err, st.Mode())
	}

	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "wgplex").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	pkgVersion := string(out)
	if i := strings.LastIndexByte(pkgVersion, '-'); i > 0 {
		pkgVersion = pkgVersion[:i] // the package release
	}
	if out, err := exec.Command(installedBin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "wgplex v"+pkgVersion+"\n") {
		t.Errorf("wgplex --version = %q (%v), want wgplex v%s", out, err, pkgVersion)
	}
	for shell, path := range map[string]string{
		"bash": "/usr/share/bash-completion/completions/wgplex",
		"zsh":  "/usr/share/zsh/vendor-completions/_wgplex",
		"fish": "/usr/share/fish/vendor_completions.d/wgplex.fish",
	} {
		installed, err := os.ReadFile(path)
		generated, gerr := exec.Command(installedBin, "completion", shell).Output()
		if err != nil || gerr != nil || string(installed) != string(generated) {
			t.Errorf("%s completion: installed %s (%v) differs from wgplex completion %s (%v)", shell, path, err, shell, gerr)
		}
	}

	impl := Impl{Name: "wgplex", Bin: installedBin}
	// A keyvault-file first in PATH that fails if it is ever run.
	decoyDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(decoyDir, "keyvault-file"), []byte("#!/bin/sh\necho decoy keyvault-file ran >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + decoyDir + ":" + os.Getenv("PATH")}
	keyFile := filepath.Join(t.TempDir(), "a.key")
	vault := "keyvault-file -key " + keyFile
	pubA := vaultGenkey(t, impl, env, vault)

	nsA, nsB := NewNetns(t), NewNetns(t)
	Veth(t, nsA, "ul0", nsB, "ul0")
	nsA.AddAddr("ul0", "10.213.7.1/24")
	nsB.AddAddr("ul0", "10.213.7.2/24")
	a := startDaemonArgs(t, nsA, impl, env, "--keyvault", vault)
	if want := "path=" + installedPluginDir + "/keyvault-file"; !strings.Contains(a.Output(), want) {
		t.Fatalf("the daemon does not log that it ran the packaged plugin (%s):\n%s", want, a.Output())
	}
	b := StartDaemon(t, nsB, impl)
	keyB := GenKey(t)
	b.Wg("set", b.Iface, "private-key", writeTemp(t, "b.key", keyB.Private), "listen-port", "51002",
		"peer", pubA, "allowed-ips", "10.214.7.1/32", "endpoint", "10.213.7.1:51001")
	a.Wg("set", a.Iface, "listen-port", "51001",
		"peer", keyB.Public, "allowed-ips", "10.214.7.2/32", "endpoint", "10.213.7.2:51002")
	a.Up("10.214.7.1/24")
	b.Up("10.214.7.2/24")
	Ping(t, nsA, "10.214.7.2", 3)
	Ping(t, nsB, "10.214.7.1", 3)
}
