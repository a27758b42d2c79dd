// SPDX-License-Identifier: MIT

package plugins

import (
	"os/exec"
	"syscall"
)

// isolate puts the plugin in a process group of its own, so that Close can
// kill whatever the plugin started too, and asks the kernel to SIGKILL it
// if the daemon dies without cleaning up (kill -9, a crash): go-plugin's
// managed cleanup only runs when the daemon exits normally.
//
// The death signal is tied to the thread that forked, not the process; Go
// only retires a thread whose goroutine locked it and exited, which the
// supervisor never does, so the daemon's death is what fires it.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills the plugin's process group (the plugin and its children).
func killGroup(pid int) {
	if pid > 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// runAs makes the plugin run as uid and gid, with no supplementary groups;
// a process that changes from root to another user loses its
// capabilities, which is the point.
func runAs(cmd *exec.Cmd, uid, gid uint32) error {
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}
	return nil
}
