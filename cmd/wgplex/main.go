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

// usage prints --help: the subcommands of commandTable and the options
// of the daemon's parts.
func usage(w io.Writer, flags *daemonFlagSet) {
	fmt.Fprintf(w, "Usage: wgplex [-f|--foreground] [OPTIONS] INTERFACE-NAME\n")
	for _, c := range commandTable() {
		fmt.Fprintf(w, "       wgplex %s\n", c.usage)
	}
	fmt.Fprintf(w, `       wgplex --version

Runs a WireGuard interface in user space. Configure it with wg(8), or bring
it up with WG_QUICK_USERSPACE_IMPLEMENTATION=wgplex wg-quick up CONF.

Daemon options:
`)
	for _, f := range flags.list {
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
		if c := lookupCommand(args[0]); c != nil {
			return c.run(args[1:], stdin, stdout, stderr)
		}
	}
	d := newDaemon(nil)
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
			usage(stdout, d.flags)
			return 0
		}
		if strings.HasPrefix(a, "--") {
			name, value, hasValue := strings.Cut(a[2:], "=")
			f := d.flags.lookup(name)
			if f == nil {
				fmt.Fprintf(stderr, "wgplex: unknown option %s\n", a)
				usage(stderr, d.flags)
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
		usage(stderr, d.flags)
		return 2
	}
	d.flags.fromEnvironment()
	return runDaemon(d, rest[0], "", foreground, stderr)
}
