// SPDX-License-Identifier: MIT

// Command keyvault-memory is the smallest complete wgplex key vault: it
// makes a random key when it starts and keeps it in its own memory. It is
// the example of plugins/README.md, not something to deploy: the key is
// lost with the process, and the daemon refuses the new key a restarted
// instance comes back with.
package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"

	"github.com/wgplex/wgplex/plugins/sdk"
)

type memoryVault struct{ key *ecdh.PrivateKey }

func (v *memoryVault) PublicKey(context.Context) (sdk.Key, error) {
	return sdk.Key(v.key.PublicKey().Bytes()), nil
}

func (v *memoryVault) DH(_ context.Context, peer sdk.Key) (sdk.Key, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return sdk.Key{}, err
	}
	shared, err := v.key.ECDH(pub) // fails on an all-zero result
	if err != nil {
		return sdk.Key{}, err
	}
	return sdk.Key(shared), nil
}

func main() {
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	sdk.ServeKeyVault(&memoryVault{key: key})
}
