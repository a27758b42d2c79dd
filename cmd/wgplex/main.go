// SPDX-License-Identifier: MIT

// Command wgplex is the wgplex daemon and command line.
//
//	wgplex [-f|--foreground] [daemon flags] IFNAME   run interface IFNAME, like wireguard-go
//	wgplex COMMAND [ARGS]                            a subcommand (see wgplex --help)
//	wgplex --version                                 print the version
//
// The daemon creates the TUN device IFNAME and serves the cross-platform
// userspace API on /var/run/wireguard/IFNAME.sock, so that wg(8) and
// wg-quick(8) (WG_QUICK_USERSPACE_IMPLEMENTATION=wgplex) drive it.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// version is what --version prints. scripts/dist.sh derives the release
// version from the value here (X.Y.Z-dev: snapshots X.Y.Z~git.DATE.SHA;
// X.Y.Z: the release) and sets it with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// versionString is the version to report. A binary built without the
// -X flag but with `go install github.com/wgplex/wgplex/cmd/wgplex@VERSION`
// knows its module version from its build information; that beats the
// development default.
func versionString() string {
	if strings.HasSuffix(version, "-dev") {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return strings.TrimPrefix(bi.Main.Version, "v")
		}
	}
	return version
}

// command is a subcommand of the wgplex binary. Subcommands register
// themselves from their own files (init functions), so that adding one does
// not touch this file.
type command struct {
	name  string
	usage string // one line: "genkey", "pubkey < private > public", ...
	run   func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

var commands = map[string]*command{}

func registerCommand(c *command) { commands[c.name] = c }

// daemonFlag is a "--name VALUE" option of the daemon, also settable
// through an environment variable (the wg-quick path passes no flags).
type daemonFlag struct {
	name  string
	env   string
	help  string
	value string
}

var daemonFlags []*daemonFlag

// registerDaemonFlag declares a daemon option and returns where its value
// will be stored.
func registerDaemonFlag(name, env, help string) *string {
	f := &daemonFlag{name: name, env: env, help: help}
	daemonFlags = append(daemonFlags, f)
	return &f.value
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: wgplex [-f|--foreground] [OPTIONS] INTERFACE-NAME\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "       wgplex %s\n", commands[n].usage)
	}
	fmt.Fprintf(w, `       wgplex --version

Runs a WireGuard interface in user space. Configure it with wg(8), or bring
it up with WG_QUICK_USERSPACE_IMPLEMENTATION=wgplex wg-quick up CONF.

Daemon options:
`)
	for _, f := range daemonFlags {
		fmt.Fprintf(w, "  --%s VALUE\n        %s (environment: %s)\n", f.name, f.help, f.env)
	}
	fmt.Fprintf(w, `
Environment:
  LOG_LEVEL=verbose|error|silent   how much to log (default: error)
`)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		if c, ok := commands[args[0]]; ok {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	foreground := false
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch a {
		case "-f", "--foreground":
			foreground = true
			continue
		case "--version", "-v", "version":
			fmt.Fprintf(stdout, "wgplex v%s\n\nUserspace WireGuard daemon.\n", versionString())
			return 0
		case "-h", "--help", "help":
			usage(stdout)
			return 0
		}
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a[2:], "=")
			f := findDaemonFlag(name)
			if f == nil {
				fmt.Fprintf(stderr, "wgplex: unknown option %s\n", a)
				usage(stderr)
				return 2
			}
			if !hasValue {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "wgplex: option --%s needs a value\n", name)
					return 2
				}
				i++
				value = args[i]
			}
			f.value = value
			continue
		}
		rest = append(rest, a)
	}
	if len(rest) != 1 || rest[0] == "" || rest[0][0] == '-' {
		usage(stderr)
		return 2
	}
	for _, f := range daemonFlags {
		if f.value == "" && f.env != "" {
			f.value = os.Getenv(f.env)
		}
	}
	return runDaemon(rest[0], foreground, stderr)
}

func findDaemonFlag(name string) *daemonFlag {
	for _, f := range daemonFlags {
		if f.name == name {
			return f
		}
	}
	return nil
}
