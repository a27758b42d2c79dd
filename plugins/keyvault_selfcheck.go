// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// ErrVaultInconsistent means a key vault's DH does not match the public key
// it reports: its private and public keys are not a pair (a wrong key
// file, a token slot holding another key, a broken implementation).
// Without this check every handshake would fail as if the peers had the
// wrong public key.
var ErrVaultInconsistent = errors.New("key vault DH does not match its public key")

// selfCheck proves that the vault's DH uses the private half of pub: for a
// fresh random scalar e, X25519(vault private, e·G) must equal
// X25519(e, pub). The scalar is thrown away after one use, so the check
// reveals nothing about the vault's key and cannot be replayed.
//
// The launch error that wraps this one names the plugin already.
func selfCheck(ctx context.Context, v sdk.KeyVault, pub sdk.Key) error {
	e, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("key vault self-check: %w", err)
	}
	vaultPub, err := ecdh.X25519().NewPublicKey(pub[:])
	if err != nil {
		return fmt.Errorf("key vault self-check: public key: %w", err)
	}
	want, err := e.ECDH(vaultPub)
	if err != nil {
		// A low-order public key: no private key has it.
		return fmt.Errorf("%w: public key %s is a low-order point", ErrVaultInconsistent, core.PublicKey(pub))
	}
	defer clear(want)
	got, err := v.DH(ctx, sdk.Key(e.PublicKey().Bytes()))
	if err != nil {
		return fmt.Errorf("key vault self-check: DH: %w", err)
	}
	defer clear(got[:])
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("%w (it reports public key %s; check that the vault holds the matching private key)",
			ErrVaultInconsistent, core.PublicKey(pub))
	}
	return nil
}
