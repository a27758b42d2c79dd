// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCommandTable: one entry per name, each with a usage line that
// starts with its name and a function to run, and --help lists them all
// with every daemon option.
func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range commandTable() {
		if seen[c.name] {
			t.Errorf("command %q listed twice", c.name)
		}
		seen[c.name] = true
		if c.run == nil || !strings.HasPrefix(c.usage, c.name) {
			t.Errorf("command %q: run set %v, usage %q", c.name, c.run != nil, c.usage)
		}
		if lookupCommand(c.name) == nil {
			t.Errorf("lookupCommand(%q) = nil", c.name)
		}
	}
	for _, name := range []string{"show", "set", "up", "down", "genkey", "plugin", "completion", "fleet", "proxy", "demo", "discovery-dir"} {
		if !seen[name] {
			t.Errorf("no command %q", name)
		}
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"--help"}, nil, &out, &errb); rc != 0 {
		t.Fatalf("--help: exit %d", rc)
	}
	for _, c := range commandTable() {
		if !strings.Contains(out.String(), "wgplex "+c.usage+"\n") {
			t.Errorf("--help lacks %q", c.name)
		}
	}
	for _, f := range newDaemon(nil).flags.list {
		if !strings.Contains(out.String(), "--"+f.name+" VALUE") {
			t.Errorf("--help lacks --%s", f.name)
		}
	}
	if rc := run([]string{"--no-such-option", "wg0"}, nil, &out, &errb); rc != 2 {
		t.Errorf("unknown option: exit %d, want 2", rc)
	}
}
