// SPDX-License-Identifier: MIT

//go:build linux

package main

// osCommands are the subcommands that need Linux: they change the host's
// network configuration through rtnetlink, or place the device in a
// network namespace.
func osCommands() []*command {
	return []*command{
		{name: "demo", usage: "demo [--seconds N]   (a tunnel between two network namespaces, tested and removed; needs root)", run: runDemo},
		{name: "down", usage: "down [--netns NAME] <CONFIG_FILE | INTERFACE>", run: runDown},
		{name: "netns-daemon", usage: "netns-daemon NETNS IFNAME   (the daemon of up --netns: device in NETNS, UDP socket here)", run: runNetnsDaemon},
		{name: "up", usage: "up [--netns NAME] <CONFIG_FILE | INTERFACE>", run: runUp},
	}
}
