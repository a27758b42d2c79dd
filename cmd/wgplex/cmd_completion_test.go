// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if rc := run([]string{"completion", shell}, nil, &out, &errb); rc != 0 {
		t.Fatalf("wgplex completion %s: exit %d: %s", shell, rc, errb.String())
	}
	return out.String()
}

func TestCompletionNamesEveryCommand(t *testing.T) {
	for _, shell := range completionShells {
		s := completionScript(t, shell)
		for _, c := range commandTable() {
			name := c.name
			if !regexp.MustCompile(`(^|[\s'(|])` + regexp.QuoteMeta(name) + `([\s':|)]|$)`).MatchString(s) {
				t.Errorf("%s completion lacks the command %q", shell, name)
			}
		}
		for _, f := range newDaemon(nil).flags.list {
			if !strings.Contains(s, f.name) {
				t.Errorf("%s completion lacks the option --%s", shell, f.name)
			}
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"completion", "tcsh"}, nil, &out, &errb); rc != 2 || out.Len() != 0 {
		t.Fatalf("unknown shell: exit %d, output %q", rc, out.String())
	}
	if rc := run([]string{"completion"}, nil, &out, &errb); rc != 2 {
		t.Fatalf("no shell: exit %d", rc)
	}
}

// TestBashCompletionWorks loads the bash script and asks it for
// completions the way bash's completion machinery does.
func TestBashCompletionWorks(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	script := filepath.Join(t.TempDir(), "wgplex.bash")
	if err := os.WriteFile(script, []byte(completionScript(t, "bash")), 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) []string {
		t.Helper()
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c",
			`source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _wgplex; printf '%s\n' "${COMPREPLY[@]}"`,
			"bash", script)
		cmd.Args = append(cmd.Args, words...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", words, err, out)
		}
		got := strings.Fields(string(out))
		sort.Strings(got)
		return got
	}
	if got := complete("wgplex", "show"); strings.Join(got, " ") != "show showconf" {
		t.Errorf("wgplex show<TAB> = %q, want [show showconf]", got)
	}
	if got := complete("wgplex", "--fore"); strings.Join(got, " ") != "--foreground" {
		t.Errorf("wgplex --fore<TAB> = %q", got)
	}
	if got := complete("wgplex", "completion", "z"); strings.Join(got, " ") != "zsh" {
		t.Errorf("wgplex completion z<TAB> = %q", got)
	}
}

func TestCompletionScriptsParse(t *testing.T) {
	for _, c := range []struct{ shell, check string }{{"bash", "-n"}, {"zsh", "-n"}, {"fish", "--no-execute"}} {
		bin, err := exec.LookPath(c.shell)
		if err != nil {
			t.Logf("%s not installed; its script is not syntax-checked", c.shell)
			continue
		}
		f := filepath.Join(t.TempDir(), "script")
		if err := os.WriteFile(f, []byte(completionScript(t, c.shell)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, c.check, f).CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v: %s", c.shell, c.check, err, out)
		}
	}
}

// TestManPageListsEveryCommand keeps wgplex(8) in step with the
// subcommands the binary has.
func TestManPageListsEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../packaging/wgplex.8")
	if err != nil {
		t.Fatal(err)
	}
	page := strings.ReplaceAll(string(b), `\-`, "-")
	for _, c := range commandTable() {
		name := c.name
		if !regexp.MustCompile(`(?m)^\.B[RI]? "?(wgplex )?` + regexp.QuoteMeta(name) + `\b`).MatchString(page) {
			t.Errorf("packaging/wgplex.8 does not describe the subcommand %q (a line \".B %s\")", name, name)
		}
	}
}
