// SPDX-License-Identifier: MIT

package config

import (
	"strings"
	"testing"
)

// The all-zero public key is a valid peer key in a configuration file, as
// for wg(8) and the kernel; it reaches the change set unchanged.
func TestZeroPeerKeyInFile(t *testing.T) {
	const zero = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	f, err := Parse("wg0.conf", strings.NewReader("[Interface]\nListenPort = 51820\n\n[Peer]\nPublicKey = "+zero+"\nAllowedIPs = 10.9.0.0/24\n"))
	if err != nil {
		t.Fatalf("zero peer key refused: %v", err)
	}
	cfg, err := f.SetConf(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != 1 || !cfg.Peers[0].PublicKey.IsZero() {
		t.Fatalf("peers %+v", cfg.Peers)
	}
}
