// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/internal/testbuild"
)

// The tests in this file hold wgplex's own command line (genkey, pubkey,
// show, showconf, set, setconf, addconf, syncconf) to wg(8): the same
// command is run with both tools against one daemon and the outputs must be
// identical byte for byte. Each runs once with wgplex as the daemon and
// once with wireguard-go, since the command line must work against either.
//
// wireguard-go lists peers in the order of a Go map, which changes from one
// request to the next, so against it outputs are compared per peer record
// (each record byte for byte, the order of records aside). wgplex lists
// peers in a stable order, and against it whole outputs are compared.

// cliBin returns the wgplex binary to use as the command line. It is the
// binary under test, or, when the suite runs with wireguard-go as the
// implementation under test, a fresh build.
func cliBin(t *testing.T) string {
	t.Helper()
	impl := implUnderTest(t)
	if impl.Name == "wgplex" {
		return impl.Bin
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "wgplex")
	if err := testbuild.Build(root, bin, false, "./cmd/wgplex"); err != nil {
		t.Fatal(err)
	}
	return bin
}

// daemonImpls are the daemons the command line is tested against: the
// implementation under test and wireguard-go (once if they are the same).
func daemonImpls(t *testing.T) []Impl {
	u, r := implUnderTest(t), implReference(t)
	if u.Bin == r.Bin {
		return []Impl{u}
	}
	return []Impl{u, r}
}

// result is what one command run gave.
type result struct {
	stdout, stderr string
	code           int
}

// runTool runs bin with args, stdin as input, and env added to a clean
// environment (no color or key-hiding settings inherited from the caller).
func runTool(t *testing.T, bin, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "WG_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
	}
	return result{out.String(), errb.String(), code}
}

// cliEnv is one daemon plus the two tools.
type cliEnv struct {
	t      *testing.T
	d      *Daemon
	wgplex string
	// ordered is true when the daemon lists peers in a stable order.
	ordered bool
}

// compare runs `TOOL args...` with wg and wgplex and requires the same
// stdout and exit status. Outputs that depend on the clock are taken
// between two wg runs that agree with each other, so that both tools saw the
// same state; that is retried a few times if the state moved.
func (e *cliEnv) compare(env []string, args ...string) string {
	e.t.Helper()
	var a, b, c result
	for range 20 {
		a = runTool(e.t, "wg", "", env, args...)
		b = runTool(e.t, e.wgplex, "", env, args...)
		c = runTool(e.t, "wg", "", env, args...)
		if a.code != b.code {
			e.t.Fatalf("%s: wg exited %d, wgplex %d\nwg stderr: %s\nwgplex stderr: %s", strings.Join(args, " "), a.code, b.code, a.stderr, b.stderr)
		}
		if a.stdout != c.stdout && !e.ordered && canonical(a.stdout) == canonical(c.stdout) {
			c = a // only the peer order moved
		}
		if a.stdout != c.stdout {
			continue // the state changed under us (a second ticked)
		}
		if a.stdout == b.stdout || (!e.ordered && canonical(a.stdout) == canonical(b.stdout)) {
			return b.stdout
		}
	}
	e.t.Fatalf("%s differs\nwg:\n%q\nwgplex:\n%q", strings.Join(args, " "), a.stdout, b.stdout)
	return ""
}

// canonical sorts the peer records of any show/showconf output: the lines
// of one-line-per-peer outputs, or the blank-line separated blocks of the
// pretty and showconf outputs (the first block, the interface, stays first).
func canonical(out string) string {
	if strings.Contains(out, "\n\n") {
		blocks := strings.Split(strings.TrimSuffix(out, "\n"), "\n\n")
		slices.Sort(blocks[1:])
		return strings.Join(blocks, "\n\n")
	}
	lines := strings.Split(out, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// reset puts the daemon back to conf with wg(8).
func (e *cliEnv) reset(conf string) {
	e.t.Helper()
	if r := runTool(e.t, "wg", "", nil, "setconf", e.d.Iface, conf); r.code != 0 {
		e.t.Fatalf("wg setconf %s: %s", conf, r.stderr)
	}
}

// dump is `wg show IFACE dump` in a form fit for comparing states.
func (e *cliEnv) dump() string {
	e.t.Helper()
	d := runTool(e.t, "wg", "", nil, "show", e.d.Iface, "dump")
	if d.code != 0 {
		e.t.Fatalf("wg show dump: %s", d.stderr)
	}
	return canonical(d.stdout)
}

// cliKeys are the keys and files the scenarios share.
type cliKeys struct {
	iface, other Key
	peers        [6]Key
	psk          string
	pskFile      string
	privFile     string
	base, conf2  string
	conf3        string
}

func newCLIKeys(t *testing.T) *cliKeys {
	k := &cliKeys{iface: GenKey(t), other: GenKey(t), psk: GenPSK(t)}
	for i := range k.peers {
		k.peers[i] = GenKey(t)
	}
	k.pskFile = writeTemp(t, "psk", k.psk+"\n")
	k.privFile = writeTemp(t, "priv", k.other.Private+"\n")
	// Endpoints point at addresses the namespace has no route to, so no
	// packet leaves and every counter stays at zero.
	k.base = writeTemp(t, "base.conf", fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51820
FwMark = 0x1234

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.214.2.0/24, fd00:214:2::/64, ::1.2.3.4/128
Endpoint = 10.213.9.1:51820
PersistentKeepalive = 25

[Peer]
PublicKey = %s
AllowedIPs = 10.214.3.1/32, fd00:214:3::1/128
Endpoint = [fd00:213:9::2]:51821

[Peer]
PublicKey = %s
AllowedIPs = 10.214.4.0/24, 10.214.40.0/22
`, k.iface.Private, k.peers[0].Public, k.psk, k.peers[1].Public, k.peers[2].Public))
	k.conf2 = writeTemp(t, "conf2.conf", fmt.Sprintf(`# syncconf target: keeps peer 0 without its psk and keepalive,
# keeps peer 1, drops peer 2, adds peers 3 and 4
[Interface]
PrivateKey = %s
ListenPort = 51830

[Peer]
PublicKey = %s
AllowedIPs = 10.214.2.0/25
Endpoint = 10.213.9.1:51820

[Peer]
PublicKey = %s
AllowedIPs = 10.214.3.1/32, fd00:214:3::1/128
Endpoint = [fd00:213:9::2]:51821

[Peer]
PublicKey = %s
PresharedKey = %s
AllowedIPs = 10.214.6.0/24
Endpoint = [fd00:213:9::6]:51826
PersistentKeepalive = 15

[peer]
publickey = %s
allowedips = fd00:214:7::/48
allowedips = 10.214.7.0/24
`, k.iface.Private, k.peers[0].Public, k.peers[1].Public, k.peers[3].Public, k.psk, k.peers[4].Public))
	k.conf3 = writeTemp(t, "conf3.conf", fmt.Sprintf(`[Interface]
FwMark = off

[Peer]
PublicKey = %s
AllowedIPs = 10.214.9.0/24
PersistentKeepalive = off

[Peer]
PublicKey = %s
AllowedIPs = 10.214.8.0/24
Endpoint = 10.213.9.8:1
`, k.peers[0].Public, k.peers[5].Public))
	return k
}

// TestCLIKeys: keys made by either tool are interchangeable.
func TestCLIKeys(t *testing.T) {
	bin := cliBin(t)
	for range 3 {
		priv := runTool(t, bin, "", nil, "genkey")
		if priv.code != 0 || len(priv.stdout) != 45 || !strings.HasSuffix(priv.stdout, "=\n") {
			t.Fatalf("wgplex genkey: %+v", priv)
		}
		ours := runTool(t, bin, priv.stdout, nil, "pubkey")
		theirs := runTool(t, "wg", priv.stdout, nil, "pubkey")
		if ours != theirs || ours.code != 0 {
			t.Fatalf("pubkey of a wgplex key: wgplex %+v, wg %+v", ours, theirs)
		}
		wgPriv := runTool(t, "wg", "", nil, "genkey")
		if a, b := runTool(t, bin, wgPriv.stdout, nil, "pubkey"), runTool(t, "wg", wgPriv.stdout, nil, "pubkey"); a != b {
			t.Fatalf("pubkey of a wg key: wgplex %+v, wg %+v", a, b)
		}
		psk := runTool(t, bin, "", nil, "genpsk")
		if psk.code != 0 || len(psk.stdout) != 45 {
			t.Fatalf("wgplex genpsk: %+v", psk)
		}
		// A pre-shared key is accepted as a key by wg.
		if r := runTool(t, "wg", psk.stdout, nil, "pubkey"); r.code != 0 {
			t.Fatalf("wg pubkey of a wgplex psk: %+v", r)
		}
	}
	for _, bad := range []string{"", "short\n", strings.Repeat("A", 44) + "\n", GenKey(t).Private + " x\n"} {
		a, b := runTool(t, bin, bad, nil, "pubkey"), runTool(t, "wg", bad, nil, "pubkey")
		if a.code != b.code || a.stdout != b.stdout || strings.Replace(a.stderr, "wgplex:", "wg:", 1) != b.stderr {
			t.Errorf("pubkey %q: wgplex %+v, wg %+v", bad, a, b)
		}
	}
	// genkey warns about a key file others can read, as wg does.
	f := filepath.Join(t.TempDir(), "key")
	for _, tool := range []string{bin, "wg"} {
		os.WriteFile(f, nil, 0o644)
		out, err := exec.Command("sh", "-c", tool+" genkey > "+f).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "Warning: writing to world accessible file.\n") {
			t.Errorf("%s genkey to a 0644 file: %v %q", tool, err, out)
		}
	}
}

// TestCLIShowMatchesWg compares every inspection command on a configured
// interface without traffic.
func TestCLIShowMatchesWg(t *testing.T) {
	bin := cliBin(t)
	for _, impl := range daemonImpls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			e := &cliEnv{t: t, d: StartDaemon(t, NewNetns(t), impl), wgplex: bin, ordered: impl.Name == "wgplex"}
			k := newCLIKeys(t)
			iface := e.d.Iface

			// An interface with nothing set, then the full one.
			e.compare(nil, "show", iface)
			e.compare(nil, "show", iface, "dump")
			e.compare(nil, "showconf", iface)
			e.reset(k.base)
			out := e.compare(nil, "show", iface)
			if !strings.Contains(out, "peer: ") || !strings.Contains(out, "persistent keepalive: every 25 seconds") {
				t.Errorf("show output lacks what was configured:\n%s", out)
			}
			if strings.Contains(out, "\x1b") {
				t.Errorf("show without a terminal printed escape sequences:\n%q", out)
			}
			e.compare([]string{"WG_COLOR_MODE=always"}, "show", iface)
			e.compare([]string{"WG_HIDE_KEYS=never"}, "show", iface)
			for _, field := range []string{"public-key", "private-key", "listen-port", "fwmark", "peers",
				"preshared-keys", "endpoints", "allowed-ips", "latest-handshakes", "transfer",
				"persistent-keepalive", "dump"} {
				e.compare(nil, "show", iface, field)
			}
			if conf := e.compare(nil, "showconf", iface); !strings.Contains(conf, "FwMark = 0x1234") {
				t.Errorf("showconf:\n%s", conf)
			}
			// The interface list holds ours (others may come and go: tests
			// run in parallel on the host).
			if ifs := runTool(t, bin, "", nil, "show", "interfaces"); !slices.Contains(strings.Fields(ifs.stdout), iface) {
				t.Errorf("show interfaces does not list %s: %q", iface, ifs.stdout)
			}
			if all := runTool(t, bin, "", nil, "show", "all", "listen-port"); !strings.Contains(all.stdout, iface+"\t51820\n") {
				t.Errorf("show all listen-port: %q", all.stdout)
			}

			// Errors: same status, same message. For a missing interface
			// wg asks the kernel last and reports the kernel's errno, which
			// depends on the host; wgplex reports the missing socket.
			for _, args := range [][]string{{"show", "wgpxnonexist0"}, {"showconf", "wgpxnonexist0"}} {
				a, b := runTool(t, "wg", "", nil, args...), runTool(t, bin, "", nil, args...)
				if a.code != b.code || b.stdout != "" || b.stderr != "Unable to access interface: No such file or directory\n" {
					t.Errorf("%v: wg %+v\nwgplex %+v", args, a, b)
				}
			}
			for _, args := range [][]string{
				{"show", iface, "bogus"},
				{"show", iface, "dump", "extra"},
				{"showconf"},
			} {
				a, b := runTool(t, "wg", "", nil, args...), runTool(t, bin, "", nil, args...)
				if a.code != b.code || a.stdout != b.stdout || a.stderr != strings.ReplaceAll(b.stderr, "wgplex ", "wg ") {
					t.Errorf("%v: wg %+v\nwgplex %+v", args, a, b)
				}
			}
		})
	}
}

// TestCLIChangesMatchWg makes each change once with wg and once with
// wgplex from the same starting point and compares the resulting state.
func TestCLIChangesMatchWg(t *testing.T) {
	bin := cliBin(t)
	for _, impl := range daemonImpls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			e := &cliEnv{t: t, d: StartDaemon(t, NewNetns(t), impl), wgplex: bin, ordered: impl.Name == "wgplex"}
			k := newCLIKeys(t)
			iface := e.d.Iface
			for _, tc := range []struct {
				name string
				args []string
			}{
				{"set device", []string{"set", iface, "listen-port", "51999", "fwmark", "0x2a", "private-key", k.privFile}},
				{"set fwmark off", []string{"set", iface, "fwmark", "off"}},
				{"set remove private key", []string{"set", iface, "private-key", "/dev/null"}},
				{"set add peer", []string{"set", iface, "peer", k.peers[3].Public, "preshared-key", k.pskFile,
					"endpoint", "10.213.9.5:51825", "persistent-keepalive", "7",
					"allowed-ips", "10.214.5.0/24, fd00:214:5::/64"}},
				{"set v6 endpoint", []string{"set", iface, "peer", k.peers[1].Public, "endpoint", "[fd00:213:9::7]:7"}},
				{"set allowed-ips", []string{"set", iface, "peer", k.peers[1].Public, "allowed-ips", "10.214.3.0/24,fd00:214:3::/64"}},
				{"set clear allowed-ips", []string{"set", iface, "peer", k.peers[2].Public, "allowed-ips", ""}},
				{"set keepalive off", []string{"set", iface, "peer", k.peers[0].Public, "persistent-keepalive", "off"}},
				{"set remove psk", []string{"set", iface, "peer", k.peers[0].Public, "preshared-key", "/dev/null"}},
				{"set remove peer", []string{"set", iface, "peer", k.peers[2].Public, "remove"}},
				{"set two peers", []string{"set", iface, "peer", k.peers[4].Public, "allowed-ips", "10.214.9.1",
					"peer", k.peers[2].Public, "remove"}},
				{"setconf", []string{"setconf", iface, k.conf2}},
				{"addconf", []string{"addconf", iface, k.conf3}},
				{"syncconf", []string{"syncconf", iface, k.conf2}},
				{"syncconf to base", []string{"syncconf", iface, k.base}},
			} {
				e.reset(k.base)
				if r := runTool(t, "wg", "", nil, wgArgs(tc.args)...); r.code != 0 {
					t.Fatalf("%s: wg: %+v", tc.name, r)
				}
				want := e.dump()
				e.reset(k.base)
				if want == e.dump() && !strings.HasPrefix(tc.name, "syncconf to base") {
					t.Fatalf("%s: wg changed nothing; the scenario proves nothing", tc.name)
				}
				if r := runTool(t, bin, "", nil, tc.args...); r.code != 0 {
					t.Fatalf("%s: wgplex: %+v", tc.name, r)
				}
				if got := e.dump(); got != want {
					t.Errorf("%s: state after wgplex differs from state after wg\nwg:\n%s\nwgplex:\n%s", tc.name, want, got)
				}
			}
			// syncconf from a state with more peers than the file keeps
			// the peers that stay and removes the rest.
			e.reset(k.base)
			runTool(t, "wg", "", nil, "addconf", iface, k.conf3)
			before := e.dump()
			runTool(t, "wg", "", nil, wgArgs([]string{"syncconf", iface, k.conf2})...)
			want := e.dump()
			e.reset(k.base)
			runTool(t, "wg", "", nil, "addconf", iface, k.conf3)
			if e.dump() != before {
				t.Fatal("could not rebuild the starting state")
			}
			if r := runTool(t, bin, "", nil, "syncconf", iface, k.conf2); r.code != 0 {
				t.Fatalf("wgplex syncconf: %+v", r)
			}
			if got := e.dump(); got != want {
				t.Errorf("syncconf from a larger state:\nwg:\n%s\nwgplex:\n%s", want, got)
			}
		})
	}
}

// wgArgs is the wg(8) command whose end state wgplex's command must reach.
// For syncconf that is setconf's: the point of syncconf is to end where
// setconf ends without disturbing the peers that stay. wg up to v1.0.20210914
// misses it: a pre-shared key or keepalive that the file drops stays on the
// peer (wireguard-tools fixed that later); wgplex clears them.
func wgArgs(args []string) []string {
	if args[0] == "syncconf" {
		return append([]string{"setconf"}, args[1:]...)
	}
	return args
}

// TestCLIBadConfigChangesNothing: a malformed file is reported as
// file:line and leaves the interface exactly as it was.
func TestCLIBadConfigChangesNothing(t *testing.T) {
	bin := cliBin(t)
	for _, impl := range daemonImpls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			e := &cliEnv{t: t, d: StartDaemon(t, NewNetns(t), impl), wgplex: bin}
			k := newCLIKeys(t)
			e.reset(k.base)
			head := fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 40000\n\n[Peer]\nPublicKey = %s\n", k.other.Private, k.peers[5].Public)
			for _, tc := range []struct {
				name, body string
				line       int
				msg        string
			}{
				{"unknown key", "AllowedIPs = 10.9.0.0/16\nColour = blue\n", 8, `unknown key "Colour" in [Peer]`},
				{"bad base64", "PresharedKey = not/base64/at/all/not/base64/at/all/not/base6=\n", 7, "PresharedKey: key is not the correct length or format"},
				{"bad cidr", "AllowedIPs = 10.9.0.0/16, 10.10.0.0/40\n", 7, `AllowedIPs: allowed IP "10.10.0.0/40"`},
				{"duplicate peer", "\n[Peer]\nPublicKey = " + k.peers[5].Public + "\n", 9, "duplicate peer " + k.peers[5].Public + " (first on line 6)"},
				{"bad port", "[Interface]\nListenPort = 70000\n", 8, `ListenPort: port "70000"`},
				{"wg-quick key", "[Interface]\nAddress = 10.0.0.1/24\n", 8, "Address is a wg-quick(8) key"},
			} {
				path := writeTemp(t, "bad.conf", head+tc.body)
				for _, cmd := range []string{"setconf", "addconf", "syncconf"} {
					before := e.dump()
					r := runTool(t, bin, "", nil, cmd, e.d.Iface, path)
					want := fmt.Sprintf("%s:%d: %s", path, tc.line, tc.msg)
					if r.code != 1 || !strings.HasPrefix(r.stderr, want) {
						t.Errorf("%s %s: exit %d, stderr %q\nwant prefix %q", cmd, tc.name, r.code, r.stderr, want)
					}
					if strings.Contains(r.stderr, k.other.Private) {
						t.Errorf("%s %s: the error shows the private key", cmd, tc.name)
					}
					if after := e.dump(); after != before {
						t.Errorf("%s %s changed the interface:\nbefore:\n%s\nafter:\n%s", cmd, tc.name, before, after)
					}
				}
			}
		})
	}
}

// TestCLIShowWithTraffic compares the clock- and counter-dependent output
// (latest handshake, transfer) after real traffic through a tunnel.
func TestCLIShowWithTraffic(t *testing.T) {
	bin := cliBin(t)
	for _, impl := range daemonImpls(t) {
		t.Run(impl.Name, func(t *testing.T) {
			a, b := NewPair(t, impl, impl, PairConfig{AKnowsB: true, PSK: true})
			Ping(t, a.NS, b.Inner4.Addr().String(), 20)
			a.WaitHandshake(b.Key.Public, 10*time.Second)
			e := &cliEnv{t: t, d: a.Daemon, wgplex: bin, ordered: true}
			out := e.compare(nil, "show", a.Iface)
			if !strings.Contains(out, "latest handshake: ") || !strings.Contains(out, " received, ") {
				t.Errorf("show after traffic lacks handshake or transfer:\n%s", out)
			}
			e.compare([]string{"WG_COLOR_MODE=always"}, "show", a.Iface)
			for _, field := range []string{"latest-handshakes", "transfer", "endpoints", "dump"} {
				e.compare(nil, "show", a.Iface, field)
			}
			e.compare(nil, "showconf", a.Iface)
			t.Logf("wgplex show %s:\n%s", a.Iface, out)
		})
	}
}
