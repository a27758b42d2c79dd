// SPDX-License-Identifier: MIT

package uapi

import "strings"

// On Windows the protocol is served on a named pipe instead of a Unix
// socket. This file holds the naming and the access policy, which are plain
// strings, so that they are tested on every host; server_windows.go and
// client_windows.go do the system calls.

// PipeDir is the named-pipe "directory" Windows implementations serve the
// protocol in: one pipe per interface, PipeDir\IFNAME, as wg.exe expects.
// Only Administrators and SYSTEM can create pipes under
// \\.\pipe\ProtectedPrefix\Administrators, so no other user can put a pipe
// there first and pose as the daemon.
const PipeDir = `\\.\pipe\ProtectedPrefix\Administrators\WireGuard`

// pipeListPrefix is how the pipes in PipeDir appear when the pipe namespace
// is listed (FindFirstFile on \\.\pipe\*): relative to \\.\pipe\.
const pipeListPrefix = `ProtectedPrefix\Administrators\WireGuard\`

// PipeSDDL is the security descriptor of the pipe, in Security Descriptor
// Definition Language: owned by SYSTEM (O:SY); a protected DACL (D:P, no
// inherited entries) granting full access (GA) to SYSTEM (SY) and the
// built-in Administrators (BA) and to nobody else; and a high mandatory
// integrity label (S:(ML;;NWNRNX;;;HI)) so that a process running below
// high integrity, such as an administrator's non-elevated one, can neither
// read, write nor execute it. This is the descriptor the reference
// implementation uses.
const PipeSDDL = "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)"

// validPipeIfname reports whether ifname can name a pipe: not empty, no
// path separators (a backslash would reach outside PipeDir), no NUL, and
// within the 256-character limit Windows puts on a whole pipe name.
func validPipeIfname(ifname string) bool {
	return ifname != "" && ifname != "." && ifname != ".." &&
		!strings.ContainsAny(ifname, `\/:`+"\x00") &&
		len(PipeDir)+1+len(ifname) <= 256
}

// pipePath returns the pipe of interface ifname in dir (PipeDir, or another
// pipe directory in tests).
func pipePath(dir, ifname string) string { return dir + `\` + ifname }

// ifnameFromPipeListing returns the interface a name from a listing of the
// pipe namespace belongs to, if it is one of ours.
func ifnameFromPipeListing(name string) (string, bool) {
	ifname, ok := strings.CutPrefix(name, pipeListPrefix)
	if !ok || !validPipeIfname(ifname) {
		return "", false
	}
	return ifname, true
}
