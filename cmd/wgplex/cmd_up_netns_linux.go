// SPDX-License-Identifier: MIT

//go:build linux

package main

import (
	"fmt"
	"io"
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
// How: the netns part (the first of the daemon's parts, parts.go) gives
// the interface part a way to create the device with the calling thread,
// locked to its goroutine, moved into NAME, and moves it back at once.
// Other goroutines never run on that thread while it is in NAME, and
// threads the runtime starts meanwhile are cloned from its template
// thread, not from this one, so the UDP socket, the UAPI socket and the
// plugins' processes are in the start namespace.

func runNetnsDaemon(args []string, _ io.Reader, _, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprintf(stderr, "Usage: %s %s\n", progName, commandUsage("netns-daemon"))
		return 2
	}
	name, ifname := args[0], args[1]
	// Checked here too, so that the user sees a missing namespace before
	// the daemon detaches.
	target, err := netns.GetFromName(name)
	if err != nil {
		fmt.Fprintf(stderr, "%s: network namespace %s: %v\n", progName, name, err)
		return 1
	}
	target.Close()
	d := newDaemon(nil)
	d.flags.fromEnvironment()
	// Not a child yet: runDaemon starts the real daemon (this same command
	// again) and waits for it to be ready.
	return runDaemon(d, ifname, name, false, stderr)
}

// netnsPart places the device in env.Netns, when set.
type netnsPart struct{}

func (netnsPart) Name() string            { return "netns" }
func (netnsPart) Flags(fs *daemonFlagSet) {}

func (netnsPart) Start(env *daemonEnv) (func(), error) {
	if env.Netns == "" {
		return nil, nil
	}
	target, err := netns.GetFromName(env.Netns)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", env.Netns, err)
	}
	env.placeDevice = func(create func() error) error {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("current network namespace: %w", err)
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("enter network namespace %s: %w", env.Netns, err)
		}
		cerr := create()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked, so that nothing else runs in
			// the wrong namespace; the start fails and the daemon ends.
			return fmt.Errorf("return to the start network namespace: %w", err)
		}
		runtime.UnlockOSThread()
		return cerr
	}
	return func() { target.Close() }, nil
}
