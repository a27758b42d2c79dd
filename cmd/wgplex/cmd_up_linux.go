// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/uapi"
	"github.com/wgplex/wgplex/internal/hostnet"
)

// up and down do wg-quick(8)'s job without it: the same configuration
// files, the same steps in the same order, the same "[#] ..." trace on
// stderr. Where they differ on purpose:
//
//   - The whole file is parsed and every endpoint resolved before the host
//     is touched, so a bad file changes nothing (wg-quick finds a bad key
//     only after it has created the interface).
//   - What up changes is recorded in /run/wgplex/IFNAME.state as it goes,
//     and down takes back exactly that, so the host ends as it was.
//   - up --netns NAME puts the interface in namespace NAME and keeps the
//     UDP socket where up runs; a default route then needs no policy
//     routing, as the tunnel's packets cannot loop back into it.
//   - No firewall rules are installed (wg-quick adds nftables/iptables
//     rules for a default route; see runUp's documentation).

// quickArgs is what up and down are told to work on.
type quickArgs struct {
	netns  string // "" for the namespace the command runs in
	path   string // the configuration file
	ifname string // the interface, named after the file
}

// wgQuickDir is where a bare interface name's file is, as for wg-quick.
const wgQuickDir = "/etc/wireguard"

var (
	ifnamePattern   = regexp.MustCompile(`^[a-zA-Z0-9_=+.-]{1,15}$`)
	confFilePattern = regexp.MustCompile(`(^|/)([a-zA-Z0-9_=+.-]{1,15})\.conf$`)
)

// parseQuickArgs reads "[--netns NAME] CONFIG_FILE|INTERFACE". As with
// wg-quick, an argument that is a valid interface name stands for
// /etc/wireguard/NAME.conf; anything else is a path whose file name, less
// ".conf", names the interface.
func parseQuickArgs(args []string) (quickArgs, error) {
	var q quickArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--netns":
			if i+1 >= len(args) {
				return q, errors.New("--netns needs a namespace name")
			}
			i++
			q.netns = args[i]
		case strings.HasPrefix(a, "--netns="):
			q.netns = strings.TrimPrefix(a, "--netns=")
			if q.netns == "" {
				return q, errors.New("--netns needs a namespace name")
			}
		case len(a) > 1 && a[0] == '-':
			return q, fmt.Errorf("unknown option %s", a)
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) != 1 {
		return q, errors.New("expected one configuration file or interface name")
	}
	arg := rest[0]
	q.path = arg
	if ifnamePattern.MatchString(arg) {
		q.path = filepath.Join(wgQuickDir, arg+".conf")
		// "wg0.conf" in the current directory is what was meant when
		// /etc/wireguard has no "wg0.conf.conf".
		if strings.HasSuffix(arg, ".conf") && !fileExists(q.path) && fileExists(arg) {
			q.path = arg
		}
	}
	m := confFilePattern.FindStringSubmatch(q.path)
	if m == nil {
		return q, fmt.Errorf("the configuration file %q must be an interface name (up to 15 of a-z A-Z 0-9 _ = + . -) followed by .conf", q.path)
	}
	q.ifname = m[2]
	return q, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// quickUsage prints the command's usage line after an argument error.
func quickUsage(name string, err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "%s %s: %v\nUsage: %s %s\n", progName, name, err, progName, commandUsage(name))
	return 1
}

// reportError prints err: a configuration error as "file:line: what",
// anything else after the command's name.
func reportError(name string, err error, stderr io.Writer) int {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(stderr, ce)
	} else {
		fmt.Fprintf(stderr, "%s %s: %v\n", progName, name, err)
	}
	return 1
}

// runUp brings an interface up from a wg-quick configuration file:
// PreUp, the daemon, the wg(8) part of the file, Address, MTU, link up,
// DNS, routes for the peers' allowed IPs, PostUp.
//
// Routes follow Table: auto (the default) puts them in the main table,
// except a default route (0.0.0.0/0 or ::/0), which goes in a table of its
// own, numbered like the firewall mark the interface's UDP socket gets
// (FwMark from the file, else the first free table from 51820); the rules
// "not fwmark M table M" and "table main suppress_prefixlength 0" then send
// everything through the tunnel except the tunnel's own packets, and
// net.ipv4.conf.all.src_valid_mark=1 lets the replies through reverse-path
// filtering. Table = off installs no routes; a table number or name puts
// every route, a default one included, in that table and adds no rule.
//
// For such a default route, as wg-quick does, an nftables table per family
// (hostnet.AddFullTunnelFirewall, through netlink) copies the mark of the
// tunnel's UDP datagrams to conntrack and back onto their replies, so that
// strict reverse-path filtering passes them, and drops packets for the
// tunnel's addresses that arrive on other interfaces. down deletes it.
func runUp(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	q, err := parseQuickArgs(args)
	if err != nil {
		return quickUsage("up", err, stderr)
	}
	if err := up(q, stdout, stderr); err != nil {
		return reportError("up", err, stderr)
	}
	return 0
}

// upRun carries one "up" through its steps.
type upRun struct {
	q      quickArgs
	f      *config.File
	stdout io.Writer
	stderr io.Writer
	target *hostnet.Host // where the interface and its routes live
	start  *hostnet.Host // where the UDP socket lives (target without --netns)
	st     *hostnet.State
	fwmark int // the table and mark of the default-route arrangement, 0 if none
}

func (u *upRun) logf(format string, args ...any) {
	fmt.Fprintf(u.stderr, "[#] "+format+"\n", args...)
}

// tableMode is what Table says about routes.
type tableMode struct {
	off   bool
	auto  bool
	table int // with neither: the table every route goes to
}

func parseTableMode(s string) (tableMode, error) {
	switch {
	case s == "" || strings.EqualFold(s, config.TableAuto):
		return tableMode{auto: true}, nil
	case strings.EqualFold(s, config.TableOff):
		return tableMode{off: true}, nil
	}
	t, err := hostnet.ParseTable(s)
	if err != nil {
		return tableMode{}, err
	}
	return tableMode{table: t}, nil
}

// errNotRoot is what up and down say to a user who cannot change the
// host's network configuration.
var errNotRoot = errors.New("must be run as root: it changes interfaces, routes and rules and keeps its record in " + hostnet.DefaultStateDir)

func up(q quickArgs, stdout, stderr io.Writer) (err error) {
	if os.Geteuid() != 0 {
		return errNotRoot
	}
	f, err := config.ParseFile(q.path)
	if err != nil {
		return err
	}
	warnWorldAccessible(q.path, stderr)
	cfg, err := f.SetConf(resolveEndpoint)
	if err != nil {
		return err
	}
	mode, err := parseTableMode(f.Interface.Table)
	if err != nil {
		return fmt.Errorf("%s: Table: %w", q.path, err)
	}
	u := &upRun{q: q, f: f, stdout: stdout, stderr: stderr}
	if u.target, err = hostnet.Open(q.netns); err != nil {
		return err
	}
	defer u.target.Close()
	u.start = u.target
	if q.netns != "" {
		if u.start, err = hostnet.Open(""); err != nil {
			return err
		}
		defer u.start.Close()
	}
	if len(f.Interface.DNS)+len(f.Interface.DNSSearch) > 0 {
		if err := u.target.CanSetDNS(); err != nil {
			return err
		}
	}
	if err := u.checkFree(); err != nil {
		return err
	}
	// The fwmark arrangement is needed only where the UDP socket and the
	// default route share a namespace.
	if mode.auto && q.netns == "" && hasDefaultRoute(f) {
		if in := f.Interface.FwMark; in != nil && *in != 0 {
			u.fwmark = int(*in)
		} else {
			if u.fwmark, err = u.target.FreeTable(51820); err != nil {
				return err
			}
			mark := uint32(u.fwmark)
			cfg.FwMark = &mark
		}
	}

	// An interrupt from here on stops up between two steps and takes
	// back what was done, as wg-quick's trap does, rather than leaving
	// half an interface behind.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := runHooks(q.ifname, f.Interface.PreUp, stdout, stderr); err != nil {
		return err
	}
	u.st = hostnet.NewState(hostnet.DefaultStateDir, q.ifname, q.netns, absPath(q.path))
	if cfg.FwMark != nil && f.Interface.FwMark == nil && u.fwmark != 0 {
		u.st.AutoFwMark = uint32(u.fwmark)
	}
	u.target.Log = u.logf
	defer func() {
		if err != nil {
			u.rollback()
		}
	}()
	in := &f.Interface
	steps := []func() error{
		func() error { return u.target.RecordLink(u.st, q.ifname) },
		func() error { return startDaemon(q.ifname, q.netns, u.logf) },
		func() error { return u.setConf(cfg) },
		func() error {
			for _, a := range in.Address {
				if err := u.target.AddAddress(u.st, q.ifname, a); err != nil {
					return err
				}
			}
			return nil
		},
		func() error { return u.target.SetMTUUp(q.ifname, u.mtu(cfgEndpoints(cfg.Peers))) },
		func() error { u.waitListening(); return nil },
		func() error {
			if len(in.DNS)+len(in.DNSSearch) == 0 {
				return nil
			}
			return u.target.SetDNS(u.st, q.ifname, in.DNS, in.DNSSearch)
		},
		func() error { return u.routes(mode) },
		func() error { return runHooks(q.ifname, in.PostUp, stdout, stderr) },
	}
	for _, step := range steps {
		select {
		case s := <-sigs:
			return fmt.Errorf("interrupted by %v", s)
		default:
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// setConf applies the wg(8) part of the file through the daemon's UAPI
// socket.
func (u *upRun) setConf(cfg core.Config) error {
	u.logf("%s setconf %s %s", progName, u.q.ifname, u.q.path)
	c, err := uapi.Dial(u.q.ifname)
	if err != nil {
		return fmt.Errorf("cannot reach the daemon of %s: %w", u.q.ifname, err)
	}
	err = c.Set(cfg)
	c.Close()
	if err != nil {
		return fmt.Errorf("cannot configure %s: %s", u.q.ifname, strerror(err))
	}
	return nil
}

// checkFree refuses an interface that already exists, or that a state
// file says was brought up and never taken down.
func (u *upRun) checkFree() error {
	name := u.q.ifname
	if ok, err := u.target.LinkExists(name); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("`%s' already exists", name)
	}
	if fileExists(uapi.SocketPath(name)) {
		return fmt.Errorf("`%s' already exists: a daemon serves %s", name, uapi.SocketPath(name))
	}
	if hostnet.StateExists(hostnet.DefaultStateDir, name) {
		return fmt.Errorf("%s/%s.state records an earlier up of %s that was not taken down: run %s down %s first",
			hostnet.DefaultStateDir, name, name, progName, name)
	}
	return nil
}

// rollback takes back what a failed up did, as wg-quick does.
func (u *upRun) rollback() {
	if u.st == nil {
		return
	}
	if err := u.target.Undo(u.st); err != nil {
		fmt.Fprintf(u.stderr, "%s up: undoing what was done: %v\n", progName, err)
		return
	}
	waitDaemonGone(u.q.ifname)
	u.st.Remove()
}

// mtu is the file's MTU, or the path MTU to the endpoints less 80 bytes:
// the most an IPv6 outer header (40), UDP (8) and WireGuard's header (16)
// and tag (16) take.
func (u *upRun) mtu(endpoints []netip.Addr) int {
	if u.f.Interface.MTU != 0 {
		return u.f.Interface.MTU
	}
	m, ok := u.start.PathMTU(endpoints)
	if !ok {
		m = 1500
	}
	return m - 80
}

func cfgEndpoints(peers []core.PeerConfig) []netip.Addr {
	var out []netip.Addr
	for _, p := range peers {
		if p.Endpoint != nil {
			out = append(out, p.Endpoint.Addr())
		}
	}
	return out
}

// routedPrefixes is the union of the peers' allowed IPs as the interface
// holds them (host bits cleared, each once), most specific first, the
// order in which wg-quick adds their routes.
func routedPrefixes(f *config.File) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range f.Peers {
		for _, a := range p.AllowedIPs {
			a = a.Masked()
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Prefix) int { return cmp.Compare(b.Bits(), a.Bits()) })
	return out
}

func hasDefaultRoute(f *config.File) bool {
	return slices.ContainsFunc(routedPrefixes(f), func(p netip.Prefix) bool { return p.Bits() == 0 })
}

// routes installs a route for each allowed IP according to Table.
func (u *upRun) routes(mode tableMode) error {
	if mode.off {
		return nil
	}
	name := u.q.ifname
	arranged := map[int]bool{}
	for _, p := range routedPrefixes(u.f) {
		switch {
		case !mode.auto:
			if err := u.target.AddRoute(u.st, name, p, mode.table); err != nil {
				return err
			}
		case p.Bits() == 0 && u.fwmark != 0:
			fam := familyOf(p)
			if !arranged[fam] {
				if err := u.policyRouting(fam); err != nil {
					return err
				}
				arranged[fam] = true
			}
			if err := u.target.AddRoute(u.st, name, p, u.fwmark); err != nil {
				return err
			}
		default:
			covered, err := u.target.RouteCovered(name, p)
			if err != nil {
				return err
			}
			if !covered {
				if err := u.target.AddRoute(u.st, name, p, hostnet.MainTable); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// policyRouting adds the rules that send all of a family's traffic but
// the tunnel's own through the fwmark table. The sysctl comes first so
// that down, going backwards, restores it after the rules are gone.
func (u *upRun) policyRouting(fam int) error {
	if fam == 4 {
		if err := u.target.SetSrcValidMark(u.st); err != nil {
			return err
		}
	}
	rules := []hostnet.Rule{
		{Family: fam, Table: u.fwmark, Mark: uint32(u.fwmark), Invert: true, SuppressPrefixlen: -1},
		{Family: fam, Table: hostnet.MainTable, SuppressPrefixlen: 0},
	}
	for _, r := range rules {
		if err := u.target.AddRule(u.st, r); err != nil {
			return err
		}
	}
	var addrs []netip.Addr
	for _, a := range u.f.Interface.Address {
		addrs = append(addrs, a.Addr())
	}
	return u.target.AddFullTunnelFirewall(u.st, fam, u.q.ifname, addrs, uint32(u.fwmark))
}

func familyOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 4
	}
	return 6
}

// runHooks runs PreUp/PostUp/PreDown/PostDown commands with bash, as
// wg-quick does (sh when bash is missing), %i replaced by the interface
// name. The first that fails stops the rest.
func runHooks(ifname string, cmds []string, stdout, stderr io.Writer) error {
	shell := "bash"
	if _, err := exec.LookPath(shell); err != nil {
		shell = "sh"
	}
	for _, c := range cmds {
		c = strings.ReplaceAll(c, "%i", ifname)
		fmt.Fprintf(stderr, "[#] %s\n", c)
		cmd := exec.Command(shell, "-c", c)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		cmd.WaitDelay = time.Second
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("hook %q: %w", c, err)
		}
	}
	return nil
}

// startDaemon starts the interface's daemon the way "wgplex IFNAME" does,
// detached, and returns once it serves its socket. With a namespace, the
// daemon creates the interface inside it (see netns-daemon).
func startDaemon(ifname, netnsName string, logf func(string, ...any)) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{ifname}
	if netnsName != "" {
		args = []string{"netns-daemon", netnsName, ifname}
	}
	logf("%s %s", progName, strings.Join(args, " "))
	cmd := exec.Command(self, args...)
	// The detached daemon keeps these only when LOG_LEVEL asks for logs.
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("starting the daemon for %s: %w", ifname, err)
	}
	return nil
}

// waitDaemonGone waits for the daemon of ifname to remove its socket,
// which it does on exit once its interface is deleted; a daemon that does
// not is told to stop by removing the socket for it.
func waitDaemonGone(ifname string) {
	sock := uapi.SocketPath(ifname)
	for _, removeAfter := range []bool{true, false} {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if !fileExists(sock) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if removeAfter {
			os.Remove(sock)
		}
	}
}

// warnWorldAccessible warns, as wg-quick does, about a configuration file
// (it holds a private key) that others may read.
func warnWorldAccessible(path string, stderr io.Writer) {
	st, err := os.Stat(path)
	if err == nil && st.Mode().Perm()&0o007 != 0 {
		fmt.Fprintf(stderr, "Warning: `%s' is world accessible\n", path)
	}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// waitListening waits, for a few seconds at most, until the daemon has
// opened its UDP port. The daemon opens it when it sees the link come up,
// which it learns from netlink after "ip link set up" has returned; a peer
// whose first initiation arrived in between would wait for the 5 s retry.
// The kernel's WireGuard opens its socket inside "ip link set up", so
// wg-quick users expect the interface to be reachable when up returns.
func (u *upRun) waitListening() {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if port := daemonPort(u.q.ifname); port != 0 && udpPortBound(port) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	u.logf("warning: the daemon of %s has not opened its UDP port after 3 s", u.q.ifname)
}

// daemonPort asks the daemon for its port: the bound one once the
// interface is up, the configured one (0 if none) before.
func daemonPort(ifname string) uint16 {
	c, err := uapi.Dial(ifname)
	if err != nil {
		return 0
	}
	defer c.Close()
	s, err := c.Get()
	if err != nil {
		return 0
	}
	return s.ListenPort
}

// udpPortBound reports whether a UDP socket of this network namespace is
// bound to port, from /proc/net/udp and udp6 (local_address is HEXIP:HEXPORT).
func udpPortBound(port uint16) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 1 && strings.HasSuffix(fields[1], want) {
				return true
			}
		}
	}
	return false
}
