// SPDX-License-Identifier: MIT

package core

import "testing"

// The receive loop pauses only after a short batch of handshake messages
// alone that were screened under load; anything else reads again at once.
func TestFloodPause(t *testing.T) {
	for _, c := range []struct {
		name           string
		n              int
		data           bool
		loadRead, load bool
		want           bool
	}{
		{"handshakes under load, short batch", 3, false, true, true, true},
		{"handshakes under load, full batch", 128, false, true, true, false},
		{"data among them", 3, true, true, true, false},
		{"not under load", 3, false, true, false, false},
		{"no handshake message", 3, false, false, false, false},
		{"data only", 3, true, false, false, false},
	} {
		var st rxState
		st.data, st.hs.loadRead, st.hs.load = c.data, c.loadRead, c.load
		if got := st.floodPause(c.n, 128); got != c.want {
			t.Errorf("%s: floodPause = %v, want %v", c.name, got, c.want)
		}
	}
}
