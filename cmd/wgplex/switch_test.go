// SPDX-License-Identifier: MIT

package main

import "testing"

// One set of words for every on/off setting; a word outside it is an
// error for the settings that report errors.
func TestOffSwitch(t *testing.T) {
	for _, c := range []struct {
		v       string
		off, ok bool
	}{
		{"", false, true},
		{"on", false, true},
		{" Yes ", false, true},
		{"1", false, true},
		{"off", true, true},
		{"FALSE", true, true},
		{"no\n", true, true},
		{"0", true, true},
		{"enable", false, false},
	} {
		t.Setenv("WGPLEX_TEST_SWITCH", c.v)
		off, err := offSwitch("WGPLEX_TEST_SWITCH")
		if off != c.off || (err == nil) != c.ok {
			t.Errorf("%q: off=%v err=%v, want off=%v ok=%v", c.v, off, err, c.off, c.ok)
		}
	}
}
