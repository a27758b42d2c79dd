// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
)

// TestNamespaceMoveIsNotDeletion moves the interface to another namespace
// (ip link set X netns B): the device must keep serving, report the move
// as EventDown, then follow up/down and MTU changes made in the new
// namespace, and still close its events when the interface is really
// deleted there.
func TestNamespaceMoveIsNotDeletion(t *testing.T) {
	requireTUN(t)
	nsA, nsB := newNetns(t), newNetns(t)
	name := "wt" + randSuffix(t)
	d := createIn(t, nsA, name, 1400)
	ipCmd(t, nsA, "link", "set", name, "up")
	waitEvent(t, d, core.EventUp)

	ipCmd(t, nsA, "link", "set", name, "netns", nsB)
	waitEvent(t, d, core.EventDown)
	// The kernel reports the link going down in the old namespace before
	// the deletion there that the watcher recognises as the move, so the
	// counter may trail the event.
	for deadline := time.Now().Add(5 * time.Second); d.moves.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatalf("moves = %d after the move, want 1", d.moves.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, err := d.Name(); err != nil || got != name {
		t.Fatalf("Name() after the move = %q, %v", got, err)
	}

	ipCmd(t, nsB, "link", "set", name, "up")
	waitEvent(t, d, core.EventUp)
	ipCmd(t, nsB, "link", "set", name, "mtu", "1300")
	waitEvent(t, d, core.EventMTUUpdate)
	if mtu, err := d.MTU(); err != nil || mtu != 1300 {
		t.Fatalf("MTU() in the new namespace = %d, %v; want 1300", mtu, err)
	}

	// Packets still flow: one routed into the interface in B is read.
	ipCmd(t, nsB, "addr", "add", "10.77.1.1/24", "dev", name)
	pkts := reader(d, 16)
	exec.Command("ip", "netns", "exec", nsB, "ping", "-c", "1", "-W", "1", "10.77.1.2").Run()
	waitPacket(t, pkts, "a ping routed into the moved interface", func(p []byte) bool {
		return len(p) >= 20 && p[0]>>4 == 4 && p[16] == 10 && p[17] == 77 && p[18] == 1 && p[19] == 2
	})

	// And back again: a second move is followed as well.
	ipCmd(t, nsB, "link", "set", name, "netns", nsA)
	waitEvent(t, d, core.EventDown)
	ipCmd(t, nsA, "link", "set", name, "up")
	waitEvent(t, d, core.EventUp)

	ipCmd(t, nsA, "link", "del", name)
	timeout := time.After(5 * time.Second)
	for closed := false; !closed; {
		select {
		case _, ok := <-d.Events():
			closed = !ok
		case <-timeout:
			t.Fatal("Events not closed after the moved link was deleted")
		}
	}
	if _, err := d.Read([][]byte{make([]byte, 100)}, []int{0}, 0); !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("Read after deletion: %v, want ErrDeviceGone", err)
	}
}
