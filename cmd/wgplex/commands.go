// SPDX-License-Identifier: MIT

package main

import (
	"io"
	"sort"
	"strings"

	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
)

// command is a subcommand of the wgplex binary.
type command struct {
	name  string
	usage string // one line: "genkey", "pubkey < private > public", ...
	run   func(args []string, stdin io.Reader, stdout, stderr io.Writer) int
}

// commandTable is every subcommand of the binary, in the order --help
// lists them (sorted by name). Commands that exist on one system only
// come from osCommands (commands_linux.go, commands_other.go). Shell
// completions and the test against packaging/wgplex.8 read this table,
// so a command added here is completed and must be documented.
//
// It is a function rather than a package variable: several commands
// print their own usage line, which would make a variable refer to
// itself.
func commandTable() []*command {
	t := []*command{
		{name: "addconf", usage: "addconf <interface> <configuration filename>", run: confCommand("addconf")},
		{name: "completion", usage: "completion bash|zsh|fish   print a shell completion script", run: runCompletion},
		{name: discoveryDirCommand,
			usage: discoveryDirCommand + " -dir DIR   the built-in directory discovery plugin (the daemon starts it for --discovery-dir)",
			run: func(args []string, _ io.Reader, _, stderr io.Writer) int {
				return dirdisc.Main(args, stderr)
			}},
		{name: "fleet", usage: "fleet init-ca|genkey|sign|revoke|show ...   the discovery fleet authority (wgplex fleet help)", run: runFleet},
		{name: "genkey", usage: "genkey > private", run: genKeyCommand("genkey")},
		{name: "genpsk", usage: "genpsk > psk", run: genKeyCommand("genpsk")},
		{name: "plugin", usage: "plugin new [--module PATH] [--wgplex-src DIR] [--no-tidy] keyvault|discovery NAME [DIR]", run: runPlugin},
		{name: "proxy", usage: "proxy [-n|--configtest] [--name IFNAME] [daemon options] CONFIG-FILE   run a tunnel without root, as SOCKS5/HTTP proxies and port forwards", run: runProxy},
		{name: "pubkey", usage: "pubkey < private > public", run: runPubKey},
		{name: "set", usage: "set <interface> [listen-port <port>] [fwmark <mark>] [private-key <file path>] " +
			"[peer <base64 public key> [remove] [preshared-key <file path>] [endpoint <ip>:<port>] " +
			"[persistent-keepalive <interval seconds>] [allowed-ips <ip1>/<cidr1>[,<ip2>/<cidr2>]...] ]...", run: runSet},
		{name: "setconf", usage: "setconf <interface> <configuration filename>", run: confCommand("setconf")},
		{name: "show", usage: "show { <interface> | all | interfaces } [" + strings.Join(showFields, " | ") + "] | show --json [<interface> | all]", run: runShow},
		{name: "showconf", usage: "showconf <interface>", run: runShowConf},
		{name: "syncconf", usage: "syncconf <interface> <configuration filename>", run: confCommand("syncconf")},
		{name: "vault-genkey", usage: `vault-genkey [--force] --plugin "PLUGIN [ARGS]"   create the key inside a key vault, print its public key`, run: runVaultGenkey},
	}
	t = append(t, osCommands()...)
	sort.Slice(t, func(i, j int) bool { return t[i].name < t[j].name })
	return t
}

// lookupCommand is the subcommand called name, nil if there is none.
func lookupCommand(name string) *command {
	for _, c := range commandTable() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// commandUsage is the usage line of the subcommand name, for its own
// error messages.
func commandUsage(name string) string {
	if c := lookupCommand(name); c != nil {
		return c.usage
	}
	return name
}
