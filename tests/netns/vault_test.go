// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/internal/testbuild"
)

// TestKeyVaultDaemons runs three daemons on one LAN: A is wgplex with its
// key in the file vault plugin, B is wgplex with its key in a SoftHSM2
// token through the PKCS#11 vault plugin, C is wireguard-go with an
// ordinary key. Neither wgplex daemon ever holds its private key. They
// must agree with wg(8) on their public keys, refuse a private key,
// handshake and pass traffic with each other and with wireguard-go, keep
// established sessions through a kill -9 of their vault, restart it, and
// complete fresh handshakes through the restarted vault.
func TestKeyVaultDaemons(t *testing.T) {
	impl, ref := implUnderTest(t), implReference(t)
	if impl.Name != "wgplex" {
		t.Skip("key vault plugins are a wgplex feature")
	}
	module := requireSoftHSM(t)
	bins := buildVaultPlugins(t)

	// The LAN: a bridge in a namespace of its own, one port per node.
	lan := NewNetns(t)
	lan.MustRun("ip", "link", "add", "br0", "type", "bridge")
	lan.MustRun("ip", "link", "set", "br0", "up")
	var nss [3]*Netns
	for i := range nss {
		nss[i] = NewNetns(t)
		port := fmt.Sprintf("p%d", i)
		Veth(t, nss[i], "ul0", lan, port)
		lan.MustRun("ip", "link", "set", port, "master", "br0")
		nss[i].AddAddr("ul0", fmt.Sprintf("10.213.5.%d/24", i+1))
	}

	// A's key: created by the file vault itself, in a file only it reads.
	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "a.key")
	fileCmd := bins.file + " -key " + keyFile
	pubA := vaultGenkey(t, impl, nil, fileCmd)
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}

	// B's key: generated inside a fresh SoftHSM2 token.
	hsmEnv, pinFile := newSoftHSMToken(t, "wgpx")
	pkcsCmd := fmt.Sprintf("%s -module %s -token wgpx -label wg0 -pin-file %s", bins.pkcs11, module, pinFile)
	pubB := vaultGenkey(t, impl, hsmEnv, pkcsCmd)
	if out, err := runWithEnv(hsmEnv, impl.Bin, "vault-genkey", "--plugin", pkcsCmd); err == nil || !strings.Contains(out, "already holds a key") {
		t.Errorf("second vault-genkey on the token: %v\n%s", err, out)
	}

	a := startDaemonArgs(t, nss[0], impl, nil, "--keyvault", fileCmd, "--metrics-listen", "127.0.0.1:9586")
	b := startDaemonArgs(t, nss[1], impl, hsmEnv, "--keyvault", pkcsCmd, "--metrics-listen", "127.0.0.1:9586")
	c := StartDaemon(t, nss[2], ref)
	keyC := GenKey(t)

	for _, tc := range []struct {
		d   *Daemon
		pub string
	}{{a, pubA}, {b, pubB}} {
		d := tc.d
		// wg(8) derives the interface's public key from private_key= in
		// the UAPI "get" reply and has no other way to learn it, so with
		// the key in a vault it shows "(none)". The daemon logs the key
		// it serves; the handshakes below prove the peers agree.
		if !strings.Contains(d.Output(), fmt.Sprintf("public_key=%q", tc.pub)) &&
			!strings.Contains(d.Output(), "public_key="+tc.pub) {
			t.Fatalf("%s: the daemon does not report the vault's key %s:\n%s", d.Iface, tc.pub, d.Output())
		}
		t.Logf("%s: wg show public-key: %s", d.Iface, strings.TrimSpace(d.Wg("show", d.Iface, "public-key")))
		// wgplex's own show reads the public key the daemon reports on its
		// UAPI extension line.
		if out, err := d.NS.Run(impl.Bin, "show", d.Iface, "public-key"); err != nil || strings.TrimSpace(out) != tc.pub {
			t.Errorf("%s: wgplex show public-key = %q (%v), want the vault's %s", d.Iface, strings.TrimSpace(out), err, tc.pub)
		}
		if conf := d.Wg("showconf", d.Iface); strings.Contains(conf, "PrivateKey") {
			t.Errorf("%s: showconf shows a private key:\n%s", d.Iface, conf)
		}
		out, err := d.NS.Run("wg", "set", d.Iface, "private-key", writeTemp(t, "k", GenKey(t).Private))
		if err == nil || !strings.Contains(out, "Operation not permitted") {
			t.Errorf("%s: wg set private-key under a vault: err=%v output=%q, want EPERM", d.Iface, err, out)
		}
	}

	// Configure the full mesh. C gets its private key the usual way.
	type node struct {
		d    *Daemon
		pub  string
		host int
	}
	nodes := []node{{a, pubA, 1}, {b, pubB, 2}, {c, keyC.Public, 3}}
	c.Wg("set", c.Iface, "private-key", writeTemp(t, "c.key", keyC.Private))
	for _, n := range nodes {
		args := []string{"set", n.d.Iface, "listen-port", fmt.Sprint(51000 + n.host)}
		for _, p := range nodes {
			if p.host != n.host {
				args = append(args, peerArgs(p.pub, p.host)...)
			}
		}
		n.d.Wg(args...)
		n.d.Up(fmt.Sprintf("10.214.5.%d/24", n.host))
	}
	for _, from := range nodes {
		for _, to := range nodes {
			if from.host != to.host {
				Ping(t, from.d.NS, fmt.Sprintf("10.214.5.%d", to.host), 3)
			}
		}
	}
	LogShow(t, &Node{Daemon: a}, &Node{Daemon: b}, &Node{Daemon: c})

	// The file vault's daemon has done handshakes as initiator and
	// responder; its memory must still not hold the private key.
	checkDaemonMemory(t, a, keyFile)

	// Kill each vault during traffic.
	for _, tc := range []struct {
		name    string
		victim  node
		bin     string
		partner node // re-handshakes with the victim after the restart
	}{
		{"file", nodes[0], bins.file, nodes[2]},
		{"pkcs11", nodes[1], bins.pkcs11, nodes[0]},
	} {
		t.Run("kill-"+tc.name+"-vault", func(t *testing.T) {
			v, p := tc.victim, tc.partner
			old := pluginPid(t, v.d.NS, tc.bin)
			restartsBefore := strings.Count(v.d.Output(), "Plugin restarted")

			// Established sessions need no vault: a ping running across
			// the kill loses nothing.
			peerAddr := fmt.Sprintf("10.214.5.%d", p.host)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ping := v.d.NS.Command(ctx, "ping", "-n", "-i", "0.1", "-c", "40", "-W", "1", peerAddr)
			var pingOut bytes.Buffer
			ping.Stdout, ping.Stderr = &pingOut, &pingOut
			if err := ping.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 %d: %v", old, err)
			}
			pingErr := ping.Wait()
			if received := pingReceived(pingOut.String()); received < 40 {
				t.Errorf("ping across the vault's kill -9: %d of 40 replies (%v)\n%s", received, pingErr, pingOut.String())
			}

			Eventually(t, 15*time.Second, "vault restart", func() (bool, string) {
				pids := v.d.NS.PidsOf(tc.bin)
				ok := len(pids) == 1 && pids[0] != old &&
					strings.Count(v.d.Output(), "Plugin restarted") > restartsBefore
				return ok, fmt.Sprintf("plugin pids %v (killed %d)", pids, old)
			})
			if !strings.Contains(v.d.Output(), "Plugin down, restarting") {
				t.Error("the daemon did not log the plugin's death")
			}
			plugin := filepath.Base(tc.bin)
			Eventually(t, 10*time.Second, "the restart in the metrics", func() (bool, string) {
				m := scrapeMetrics(t, v.d.NS)
				restarts := metricValue(m, fmt.Sprintf(`wgplex_plugin_restarts_total{kind="keyvault",plugin=%q}`, plugin))
				up := metricValue(m, fmt.Sprintf(`wgplex_plugin_up{kind="keyvault",plugin=%q}`, plugin))
				return restarts >= 1 && up == 1, fmt.Sprintf("restarts=%v up=%v", restarts, up)
			})

			// Force a fresh handshake: the partner forgets the victim
			// and adds it back, then initiates.
			before := v.d.LatestHandshake(p.pub)
			p.d.Wg("set", p.d.Iface, "peer", v.pub, "remove")
			p.d.Wg(append([]string{"set", p.d.Iface}, peerArgs(v.pub, v.host)...)...)
			// wg(8) reports handshakes with one-second resolution.
			time.Sleep(1100 * time.Millisecond)
			Ping(t, p.d.NS, fmt.Sprintf("10.214.5.%d", v.host), 3)
			Eventually(t, 10*time.Second, "a new handshake through the restarted vault", func() (bool, string) {
				return v.d.LatestHandshake(p.pub) > before, v.d.Wg("show", v.d.Iface)
			})
			Ping(t, v.d.NS, peerAddr, 3)
		})
	}
}

// scrapeMetrics fetches /metrics from the daemon's metrics listener on
// 127.0.0.1:9586 inside ns, with bash's /dev/tcp (no HTTP client needed).
func scrapeMetrics(t *testing.T, ns *Netns) string {
	t.Helper()
	out, err := ns.Run("bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/9586 && printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3`)
	if err != nil {
		t.Fatalf("scraping metrics in %s: %v\n%s", ns.Name, err, out)
	}
	return out
}

// metricValue finds the sample line starting with series (name and
// labels exactly as exposed) and returns its value, -1 if absent.
func metricValue(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// peerArgs are the wg set arguments adding the mesh node host with key pub.
func peerArgs(pub string, host int) []string {
	return []string{"peer", pub,
		"allowed-ips", fmt.Sprintf("10.214.5.%d/32", host),
		"endpoint", fmt.Sprintf("10.213.5.%d:%d", host, 51000+host)}
}

var pingReceivedRE = regexp.MustCompile(`(\d+) received`)

func pingReceived(out string) int {
	m := pingReceivedRE.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// pluginPid returns the pid of the one plugin process running bin in ns.
func pluginPid(t *testing.T, ns *Netns, bin string) int {
	t.Helper()
	pids := ns.PidsOf(bin)
	if len(pids) != 1 {
		t.Fatalf("want one %s process in %s, have %v", filepath.Base(bin), ns.Name, pids)
	}
	return pids[0]
}

// vaultPlugins are the plugin binaries the test builds.
type vaultPlugins struct{ file, pkcs11 string }

func buildVaultPlugins(t *testing.T) vaultPlugins {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The PKCS#11 vault is cgo; the file vault static, as released.
	if err := testbuild.Build(root, dir+"/", false, "./plugins/keyvault-file"); err != nil {
		t.Fatalf("building the file key vault: %v", err)
	}
	if err := testbuild.Build(root, dir+"/", true, "./plugins/keyvault-pkcs11"); err != nil {
		t.Fatalf("building the PKCS#11 key vault: %v", err)
	}
	var v vaultPlugins
	for _, p := range []struct {
		dst  *string
		name string
	}{{&v.file, "keyvault-file"}, {&v.pkcs11, "keyvault-pkcs11"}} {
		real, err := realPath(filepath.Join(dir, p.name))
		if err != nil {
			t.Fatal(err)
		}
		*p.dst = real
	}
	return v
}

// softHSMModules are where distributions install SoftHSM2's module.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
}

// requireSoftHSM returns the SoftHSM2 module, skipping the test (failing
// it under CI=true) if SoftHSM2 is not installed.
func requireSoftHSM(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("softhsm2-util"); err == nil {
		for _, m := range softHSMModules {
			if fileExists(m) {
				return m
			}
		}
	}
	msg := "SoftHSM2 missing (apt-get install softhsm2; scripts/test.sh installs it)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newSoftHSMToken initialises a token labelled label in a private token
// directory and returns the environment that points SoftHSM2 at it and a
// file with the user PIN.
func newSoftHSMToken(t *testing.T, label string) (env []string, pinFile string) {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = []string{"SOFTHSM2_CONF=" + conf}
	if out, err := runWithEnv(env, "softhsm2-util", "--init-token", "--free", "--label", label,
		"--pin", "4321", "--so-pin", "87654321"); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	pinFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte("4321\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return env, pinFile
}

// vaultGenkey runs `wgplex vault-genkey --plugin CMD` and returns the
// public key it prints.
func vaultGenkey(t *testing.T, impl Impl, env []string, pluginCmd string) string {
	t.Helper()
	out, err := runWithEnv(env, impl.Bin, "vault-genkey", "--plugin", pluginCmd)
	if err != nil {
		t.Fatalf("vault-genkey --plugin %q: %v\n%s", pluginCmd, err, out)
	}
	pub := strings.TrimSpace(out)
	if b, err := base64.StdEncoding.DecodeString(pub); err != nil || len(b) != 32 {
		t.Fatalf("vault-genkey printed %q, not a public key", out)
	}
	return pub
}

func runWithEnv(env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// checkDaemonMemory searches every readable mapping of the daemon's
// process for the private key in keyFile, raw and in base64. The same
// search over the plugin must find it, or the search proves nothing.
func checkDaemonMemory(t *testing.T, d *Daemon, keyFile string) {
	t.Helper()
	text, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	b64 := bytes.TrimSpace(text)
	raw, err := base64.StdEncoding.DecodeString(string(b64))
	if err != nil {
		t.Fatal(err)
	}
	// The form X25519 uses: what a vault holds once it has read the file.
	clamped := bytes.Clone(raw)
	clamped[0] &= 248
	clamped[31] = clamped[31]&127 | 64
	pids := d.NS.PidsOf(d.Impl.Bin)
	if len(pids) != 1 {
		t.Fatalf("daemon processes %v", pids)
	}
	var plugins []int
	for _, pid := range d.NS.Pids() {
		if pid != pids[0] {
			plugins = append(plugins, pid)
		}
	}
	inPlugin := 0
	for _, pid := range plugins {
		n, err := countInMemory(pid, raw, clamped, b64)
		if err == nil {
			inPlugin += n
		}
	}
	if inPlugin == 0 {
		t.Fatal("memory search found the key in no plugin process either; the search is broken")
	}
	n, err := countInMemory(pids[0], raw, clamped, b64)
	if err != nil {
		t.Fatalf("reading the daemon's memory: %v", err)
	}
	if n != 0 {
		t.Fatalf("the daemon's memory holds the private key (%d occurrences)", n)
	}
	t.Logf("daemon pid %d: key absent; found %d times in its vault plugin", pids[0], inPlugin)
}

// countInMemory counts occurrences of the needles in the readable
// mappings of pid, read through /proc/PID/mem.
func countInMemory(pid int, needles ...[]byte) (int, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	found := 0
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && strings.HasPrefix(f[5], "[v")) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start || end-start > 1<<32 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		for _, nd := range needles {
			found += bytes.Count(buf[:n], nd)
		}
	}
	return found, nil
}
