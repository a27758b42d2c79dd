// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
)

// TestREADMEExample builds the example of plugins/README.md, loads it as
// the daemon would and checks its X25519 against the reference from the
// other side of the exchange; it also keeps the README's copy of the code
// identical to the file that is built.
func TestREADMEExample(t *testing.T) {
	src, err := os.ReadFile("examples/keyvault-memory/main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```go\n"+string(src)+"```") {
		t.Error("README.md does not show examples/keyvault-memory/main.go as it is")
	}

	kv, err := plugins.StartKeyVault(fastConfig(t, pluginBin(t, "keyvault-memory")))
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	peer, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.DH(core.PublicKey(peer.PublicKey().Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	vaultPub := kv.PublicKey()
	pub, err := ecdh.X25519().NewPublicKey(vaultPub[:])
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got != [32]byte(want) {
		t.Fatal("the example's DH disagrees with the peer's")
	}
}
