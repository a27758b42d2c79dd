// SPDX-License-Identifier: MIT

// Package hostnet changes the host's network configuration for "wgplex up"
// and takes it back for "wgplex down": interface addresses, MTU, routes,
// policy rules, a sysctl, DNS, and the network namespaces "wgplex up
// --netns" and "wgplex demo" work with. It speaks rtnetlink directly (via
// github.com/vishvananda/netlink) and never runs ip(8).
//
// Every change goes through a Host and is recorded in a State, which is
// saved to a file after each step. The file is what makes "down" exact: it
// removes what "up" added and nothing else, in reverse order, even when
// "up" was interrupted half way or ran in another process.
//
// A Host works on one network namespace, the caller's own or a named one
// (/run/netns/NAME, as ip-netns(8) creates them). Netlink sockets are bound
// to the namespace they are opened in, so a Host opens its socket inside
// the namespace once and then works from any thread; the few operations
// that need the calling thread itself in the namespace (/proc/sys, starting
// a process) run on a locked OS thread that is thrown away if it cannot be
// returned to its namespace.
//
// Only Linux is implemented; elsewhere the package is empty.
package hostnet
