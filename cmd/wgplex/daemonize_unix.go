// SPDX-License-Identifier: MIT

//go:build !windows

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// The daemon detaches by starting itself again in a new session with a
// pipe on file descriptor 3. The child writes one line to the pipe once the
// device and the socket exist ("ok") or why it failed, then closes it; the
// parent relays failure and exits with the child's verdict. This gives
// wg-quick the guarantee the reference daemon gives: when the command
// returns, the interface is there.
const (
	envDaemonChild = "WGPLEX_DAEMON_CHILD"
	readyFD        = 3
)

func isDaemonChild() bool { return os.Getenv(envDaemonChild) == "1" }

func daemonize(stderr io.Writer) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "wgplex: cannot find own executable: %v\n", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "wgplex: %v\n", err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), envDaemonChild+"=1")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// As with the reference daemon, a detached child keeps the caller's
	// stdout/stderr only when LOG_LEVEL asks for logs; otherwise a caller
	// reading our output (a script, a test) would wait for the daemon to
	// exit before seeing end-of-file.
	if lvl := os.Getenv("LOG_LEVEL"); lvl != "" && lvl != "silent" {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "wgplex: failed to start daemon: %v\n", err)
		return 1
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if strings.TrimSpace(line) != "ok" {
		// The child already explained itself on stderr.
		cmd.Wait()
		return 1
	}
	cmd.Process.Release()
	return 0
}

// signalReady tells a waiting parent that the daemon is up.
func signalReady() {
	if !isDaemonChild() {
		return
	}
	f := os.NewFile(readyFD, "ready")
	if f == nil {
		return
	}
	fmt.Fprintln(f, "ok")
	f.Close()
}
