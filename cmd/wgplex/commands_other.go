// SPDX-License-Identifier: MIT

//go:build !linux

package main

// osCommands are, on other systems, the Linux-only subcommands that say
// so instead of half working (see cmd_up_other.go).
func osCommands() []*command {
	return []*command{
		{name: "demo", usage: "demo   (Linux only)", run: notHere("demo")},
		{name: "down", usage: "down <CONFIG_FILE | INTERFACE>   (Linux only for now)", run: notHere("down")},
		{name: "up", usage: "up <CONFIG_FILE | INTERFACE>   (Linux only for now)", run: notHere("up")},
	}
}
