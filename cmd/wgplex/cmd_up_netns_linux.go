// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
)

// "up --netns NAME" runs the daemon as "wgplex netns-daemon NAME IFNAME".
// It is the ordinary daemon, except that its TUN device is created inside
// namespace NAME while everything else stays where it was started: the UDP
// socket, hence the underlay, the UAPI socket, metrics, plugins. This is
// the "ready for containers" arrangement: a container whose only interface
// is the tunnel, with the encrypted traffic leaving from the host.
//
// The device is created inside NAME rather than created here and moved.
// The TUN backend would survive a move (it tells it from a deletion and
// follows the interface), but a move takes the interface down and needs
// a kernel with TUNGETDEVNETNS to be followed; created in NAME, the
// device's control and netlink sockets are in NAME from the start, so MTU
// changes and link events work on any kernel, and deleting the interface
// in NAME stops the daemon as it should.
//
// How: the main goroutine, which runs the daemon's start-up, is locked to
// its thread and the thread moved into NAME before the device is created;
// the first daemon starter (leaveDeviceNetns, registered below, runs before
// metrics and plugins) moves it back. Other goroutines never run on that
// thread while it is in NAME, and threads the runtime starts meanwhile are
// cloned from its template thread, not from this one, so the UDP socket,
// opened later by the tunnel's own goroutines, is in the start namespace.

func init() {
	registerCommand(&command{name: "netns-daemon",
		usage: "netns-daemon NETNS IFNAME   (the daemon of up --netns: device in NETNS, UDP socket here)",
		run:   runNetnsDaemon})
	registerDaemonStarter("netns", leaveDeviceNetns)
}

// returnNetns is the namespace the daemon's main thread goes back to once
// the device exists; None when not in netns-daemon.
var returnNetns = netns.None()

func runNetnsDaemon(args []string, _ io.Reader, _, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintf(stderr, "Usage: %s %s\n", progName, commands["netns-daemon"].usage)
		return 2
	}
	name, ifname := args[0], args[1]
	for _, f := range daemonFlags {
		if f.value == "" && f.env != "" {
			f.value = os.Getenv(f.env)
		}
	}
	target, err := netns.GetFromName(name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: network namespace %s: %v\n", progName, name, err)
		return 1
	}
	defer target.Close()
	if !isDaemonChild() {
		// This process only detaches: runDaemon starts the real daemon
		// (this same command again) and waits for it to be ready.
		return runDaemon(ifname, false, stderr)
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		fmt.Fprintf(stderr, "%s: current network namespace: %v\n", progName, err)
		return 1
	}
	if err := netns.Set(target); err != nil {
		fmt.Fprintf(stderr, "%s: enter network namespace %s: %v\n", progName, name, err)
		return 1
	}
	returnNetns = orig
	return runDaemon(ifname, false, stderr)
}

// leaveDeviceNetns returns the daemon's main thread to the start namespace
// once the device exists. It must be the first daemon starter.
func leaveDeviceNetns(env *daemonEnv) (func(), error) {
	if !returnNetns.IsOpen() {
		return nil, nil
	}
	err := netns.Set(returnNetns)
	returnNetns.Close()
	returnNetns = netns.None()
	if err != nil {
		// Fail the start: the main thread would open the UAPI socket and
		// start the other parts in the tunnel's namespace.
		return nil, fmt.Errorf("return to the start network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return nil, nil
}
