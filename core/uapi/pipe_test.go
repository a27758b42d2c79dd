// SPDX-License-Identifier: MIT

package uapi

import (
	"strings"
	"testing"
)

func TestPipePath(t *testing.T) {
	if got, want := pipePath(PipeDir, "wg0"), `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\wg0`; got != want {
		t.Errorf("pipePath = %s, want %s", got, want)
	}
	if !strings.HasSuffix(PipeDir, `\`+strings.TrimSuffix(pipeListPrefix, `\`)) {
		t.Errorf("listing prefix %q does not match PipeDir %q", pipeListPrefix, PipeDir)
	}
	for _, bad := range []string{"", ".", "..", `a\b`, "a/b", "c:", "a\x00", strings.Repeat("x", 220)} {
		if validPipeIfname(bad) {
			t.Errorf("validPipeIfname(%q) = true", bad)
		}
	}
	for _, good := range []string{"wg0", "WireGuard Tunnel", "corp-vpn.1", strings.Repeat("x", 256-len(PipeDir)-1)} {
		if !validPipeIfname(good) {
			t.Errorf("validPipeIfname(%q) = false", good)
		}
	}
}

func TestIfnameFromPipeListing(t *testing.T) {
	cases := map[string]string{
		`ProtectedPrefix\Administrators\WireGuard\wg0`:    "wg0",
		`ProtectedPrefix\Administrators\WireGuard\my tun`: "my tun",
		`ProtectedPrefix\Administrators\WireGuard\a\b`:    "",
		`ProtectedPrefix\Administrators\WireGuard\`:       "",
		`ProtectedPrefix\Administrators\Other\wg0`:        "",
		`WireGuard\wg0`: "",
		`InitShutdown`:  "",
	}
	for in, want := range cases {
		got, ok := ifnameFromPipeListing(in)
		if got != want || ok != (want != "") {
			t.Errorf("ifnameFromPipeListing(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestPipeSDDL pins the descriptor and checks its parts, so that a change
// that would let other users reach the pipe is caught here.
func TestPipeSDDL(t *testing.T) {
	if PipeSDDL != "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)" {
		t.Fatalf("PipeSDDL changed: %s", PipeSDDL)
	}
	owner, rest, ok := strings.Cut(PipeSDDL, "D:")
	if !ok || owner != "O:SY" {
		t.Fatalf("owner part %q", owner)
	}
	dacl, sacl, ok := strings.Cut(rest, "S:")
	if !ok {
		t.Fatal("no SACL")
	}
	if !strings.HasPrefix(dacl, "P(") {
		t.Errorf("DACL %q is not protected from inheritance", dacl)
	}
	aces := strings.Split(strings.Trim(strings.TrimPrefix(dacl, "P"), "()"), ")(")
	trustees := map[string]bool{}
	for _, ace := range aces {
		f := strings.Split(ace, ";")
		if len(f) != 6 {
			t.Fatalf("ACE %q", ace)
		}
		if f[0] != "A" || f[2] != "GA" {
			t.Errorf("ACE %q is not an allow-all entry", ace)
		}
		trustees[f[5]] = true
	}
	if len(trustees) != 2 || !trustees["SY"] || !trustees["BA"] {
		t.Errorf("DACL admits %v, want exactly SYSTEM and Administrators", trustees)
	}
	if sacl != "(ML;;NWNRNX;;;HI)" {
		t.Errorf("SACL %q is not the high-integrity no-read-up/write-up/execute-up label", sacl)
	}
}
