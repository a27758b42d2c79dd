// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SocketDir is where wireguard-go compatible daemons serve the UAPI and
// where wg(8) looks for them. It is not per namespace: wg finds a daemon by
// interface name alone, which is why every interface name is unique.
const SocketDir = "/var/run/wireguard"

// SocketPath is the UAPI socket of interface iface.
func SocketPath(iface string) string { return filepath.Join(SocketDir, iface+".sock") }

// Daemon is a WireGuard daemon process running in the foreground in a
// namespace, as `impl -f IFACE`. It is stopped when the test ends, and its
// output goes to the test log if the test failed.
type Daemon struct {
	t     testing.TB
	NS    *Netns
	Impl  Impl
	Iface string

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed when the process has been reaped
}

// StartDaemon starts impl in ns on a fresh interface name and returns once
// its UAPI socket answers wg(8).
func StartDaemon(t testing.TB, ns *Netns, impl Impl) *Daemon {
	t.Helper()
	return startDaemonArgs(t, ns, impl, nil)
}

// startDaemonArgs is StartDaemon with extra environment (SOFTHSM2_CONF, ...)
// and daemon options (--keyvault, --discovery, ...) before the interface.
func startDaemonArgs(t testing.TB, ns *Netns, impl Impl, env []string, args ...string) *Daemon {
	t.Helper()
	iface := "wgpx" + uniqueID()
	for fileExists(SocketPath(iface)) {
		iface = "wgpx" + uniqueID()
	}
	d := &Daemon{t: t, NS: ns, Impl: impl, Iface: iface, out: &syncBuffer{}, exited: make(chan struct{})}
	argv := []string{"netns", "exec", ns.Name, "env", "LOG_LEVEL=verbose"}
	argv = append(argv, env...)
	argv = append(argv, impl.Bin, "-f")
	argv = append(argv, args...)
	d.cmd = exec.Command("ip", append(argv, iface)...)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	// If the test binary dies (go test -timeout panics), take the daemon
	// along instead of leaving it holding a TUN device and a socket.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", impl.Name, err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(d.stop)

	Eventually(t, 15*time.Second, impl.Name+" UAPI socket "+SocketPath(iface), func() (bool, string) {
		if d.Exited() {
			t.Fatalf("%s -f %v %s exited during start-up: %v\n%s", impl.Name, args, iface, d.cmd.ProcessState, d.out)
		}
		if !fileExists(SocketPath(iface)) {
			return false, "no socket file"
		}
		out, err := ns.Run("wg", "show", iface)
		return err == nil, out
	})
	return d
}

// stop sends SIGTERM, escalates to SIGKILL, and removes the socket file if
// the daemon left it behind, so that the next run cannot trip over it.
func (d *Daemon) stop() {
	if !d.Exited() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(5 * time.Second):
			d.t.Errorf("%s on %s ignored SIGTERM for 5s; killing it", d.Impl.Name, d.Iface)
			d.cmd.Process.Kill()
			<-d.exited
		}
	}
	os.Remove(SocketPath(d.Iface))
	if d.t.Failed() {
		d.t.Logf("output of %s -f %s in %s:\n%s", d.Impl.Name, d.Iface, d.NS.Name, d.out)
	}
}

// Exited reports whether the daemon process has ended.
func (d *Daemon) Exited() bool {
	select {
	case <-d.exited:
		return true
	default:
		return false
	}
}

// Output returns what the daemon has logged so far.
func (d *Daemon) Output() string { return d.out.String() }

// Wg runs `wg ARGS...` in the daemon's namespace and fails the test on error.
func (d *Daemon) Wg(args ...string) string {
	d.t.Helper()
	return d.NS.MustRun(append([]string{"wg"}, args...)...)
}

// SetConf loads a wg(8) configuration file with `wg setconf`.
func (d *Daemon) SetConf(conf string) {
	d.t.Helper()
	d.Wg("setconf", d.Iface, writeTemp(d.t, "wg.conf", conf))
}

// Up gives the tunnel interface its addresses and brings it up, and, when
// a listen port is configured, waits until the daemon has bound it. The
// daemon opens its socket when it sees the link go up, a moment after
// `ip link set up` returns; a handshake initiation sent to it before then
// is lost, and its retry comes only after the 5 s rekey timeout.
func (d *Daemon) Up(cidrs ...string) {
	d.t.Helper()
	for _, c := range cidrs {
		d.NS.AddAddr(d.Iface, c)
	}
	d.NS.MustRun("ip", "link", "set", d.Iface, "up")
	port := strings.TrimSpace(d.Wg("show", d.Iface, "listen-port"))
	if port == "" || port == "0" {
		return
	}
	Eventually(d.t, 5*time.Second, d.Iface+" bound to UDP port "+port, func() (bool, string) {
		out, _ := d.NS.Run("ss", "-Hlnu", "sport = :"+port)
		return strings.TrimSpace(out) != "", out
	})
}

// Dump is `wg show IFACE dump`.
func (d *Daemon) Dump() string {
	d.t.Helper()
	return d.Wg("show", d.Iface, "dump")
}

// PeerValue returns peer's value in `wg show IFACE FIELD` (FIELD one of
// endpoints, latest-handshakes, transfer, ...), "" if peer is not listed.
func (d *Daemon) PeerValue(field, peer string) string {
	d.t.Helper()
	for _, line := range strings.Split(d.Wg("show", d.Iface, field), "\n") {
		if k, v, ok := strings.Cut(line, "\t"); ok && k == peer {
			return v
		}
	}
	return ""
}

// LatestHandshake is the peer's last handshake time in Unix seconds, 0 if none.
func (d *Daemon) LatestHandshake(peer string) int64 {
	d.t.Helper()
	n, _ := strconv.ParseInt(d.PeerValue("latest-handshakes", peer), 10, 64)
	return n
}

// Transfer returns the bytes received from and sent to peer.
func (d *Daemon) Transfer(peer string) (rx, tx uint64) {
	d.t.Helper()
	f := strings.Fields(d.PeerValue("transfer", peer))
	if len(f) != 2 {
		d.t.Fatalf("%s: no transfer counters for peer %s", d.Iface, peer)
	}
	rx, _ = strconv.ParseUint(f[0], 10, 64)
	tx, _ = strconv.ParseUint(f[1], 10, 64)
	return rx, tx
}

// Endpoint is the peer's current endpoint as wg shows it ("(none)" if unknown).
func (d *Daemon) Endpoint(peer string) string {
	d.t.Helper()
	return d.PeerValue("endpoints", peer)
}

// WaitHandshake waits until the daemon reports a completed handshake with peer.
func (d *Daemon) WaitHandshake(peer string, timeout time.Duration) {
	d.t.Helper()
	Eventually(d.t, timeout, d.Impl.Name+" handshake with "+peer, func() (bool, string) {
		return d.LatestHandshake(peer) != 0, d.Wg("show", d.Iface)
	})
}

// Key is a Curve25519 key pair in the base64 form wg(8) uses.
type Key struct{ Private, Public string }

// GenKey makes a key pair with `wg genkey | wg pubkey`, the same tool users
// take their keys from.
func GenKey(t testing.TB) Key {
	t.Helper()
	priv := wgTool(t, "", "genkey")
	return Key{Private: priv, Public: wgTool(t, priv, "pubkey")}
}

// GenPSK makes a preshared key with `wg genpsk`.
func GenPSK(t testing.TB) string {
	t.Helper()
	return wgTool(t, "", "genpsk")
}

func wgTool(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("wg", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("wg %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// writeTemp writes content to a fresh file in the test's temporary
// directory, mode 0600 because wg-quick warns about readable key files.
func writeTemp(t testing.TB, name, content string) string {
	t.Helper()
	dir, err := os.MkdirTemp(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
