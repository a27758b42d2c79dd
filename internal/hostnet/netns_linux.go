// SPDX-License-Identifier: MIT

package hostnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netns"
)

// NetnsDir is where named network namespaces are mounted, as ip-netns(8)
// mounts them.
const NetnsDir = "/run/netns"

// ErrNoNetns is returned for a named namespace that does not exist.
var ErrNoNetns = errors.New("network namespace does not exist")

// NetnsExists reports whether the named namespace exists.
func NetnsExists(name string) bool {
	_, err := os.Stat(filepath.Join(NetnsDir, name))
	return err == nil
}

// openNetns returns a handle to the named namespace.
func openNetns(name string) (netns.NsHandle, error) {
	if name == "" || name == "." || name == ".." || filepath.Base(name) != name {
		return netns.None(), fmt.Errorf("network namespace %q: invalid name", name)
	}
	h, err := netns.GetFromName(name)
	if errors.Is(err, fs.ErrNotExist) {
		return netns.None(), fmt.Errorf("network namespace %s: %w (create it with ip netns add %s)", name, ErrNoNetns, name)
	}
	if err != nil {
		return netns.None(), fmt.Errorf("network namespace %s: %w", name, err)
	}
	return h, nil
}

// InNetns runs fn on an OS thread that is in the named namespace (the
// caller's own when name is empty) for the whole call. Whatever fn creates
// that is bound to a namespace (a socket, a process it starts, a /proc/sys
// file it opens) belongs to that namespace; goroutines fn starts do not
// run there.
func InNetns(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	target, err := openNetns(name)
	if err != nil {
		return err
	}
	defer target.Close()
	return onThreadIn(target, fn)
}

// onThreadIn runs fn on a fresh goroutine locked to its thread, with the
// thread moved into target. If the thread cannot be moved back, the
// goroutine ends still locked, and the Go runtime then ends the thread
// rather than letting other goroutines run in the wrong namespace.
func onThreadIn(target netns.NsHandle, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("return to network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// CreateNetns creates the named namespace, mounted under NetnsDir as
// ip-netns(8) does, and brings its loopback interface up.
func CreateNetns(name string) error {
	if name == "" || filepath.Base(name) != name {
		return fmt.Errorf("network namespace %q: invalid name", name)
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer orig.Close()
		// NewNamed moves this thread into the new namespace.
		created, err := netns.NewNamed(name)
		if err != nil {
			// Unshare may have happened before the mount failed.
			if netns.Set(orig) == nil {
				runtime.UnlockOSThread()
			}
			done <- fmt.Errorf("create network namespace %s: %w", name, err)
			return
		}
		created.Close()
		if err := netns.Set(orig); err != nil {
			done <- fmt.Errorf("return to network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		done <- nil
	}()
	if err := <-done; err != nil {
		return err
	}
	h, err := Open(name)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("network namespace %s: loopback up: %w", name, err)
	}
	return nil
}

// DeleteNetns unmounts and removes the named namespace. The namespace
// itself lives on while a process or socket still uses it.
func DeleteNetns(name string) error {
	if name == "" || filepath.Base(name) != name {
		return fmt.Errorf("network namespace %q: invalid name", name)
	}
	if err := netns.DeleteNamed(name); err != nil {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	return nil
}

// NetnsPids lists the processes whose network namespace is the named one,
// as "ip netns pids" does.
func NetnsPids(name string) ([]int, error) {
	var want os.FileInfo
	want, err := os.Stat(filepath.Join(NetnsDir, name))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || fmt.Sprint(pid) != e.Name() {
			continue
		}
		st, err := os.Stat(filepath.Join("/proc", e.Name(), "ns", "net"))
		if err == nil && os.SameFile(st, want) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
