// SPDX-License-Identifier: MIT

package uapi

import (
	"strings"
	"testing"
)

// public_key= of 64 zeros names a peer (the all-zero key), as in the
// kernel; it is not taken for a missing key.
func TestParseSetZeroPeerKey(t *testing.T) {
	cfg, err := parse(t, "public_key="+strings.Repeat("0", 64)+"\nallowed_ip=10.9.0.0/24\n\n")
	if err != nil {
		t.Fatalf("zero public key refused: %v", err)
	}
	if len(cfg.Peers) != 1 || !cfg.Peers[0].PublicKey.IsZero() || len(cfg.Peers[0].AllowedIPs) != 1 {
		t.Fatalf("peers %+v", cfg.Peers)
	}
}
