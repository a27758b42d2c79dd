// SPDX-License-Identifier: MIT

package sdktest_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wgplex/wgplex/plugins/sdk"
	"github.com/wgplex/wgplex/plugins/sdk/sdktest"
)

// vault is an in-process key vault with switchable faults.
type vault struct {
	key      *ecdh.PrivateKey
	other    *ecdh.PrivateKey // computes with this one if set
	zeroOK   bool             // returns the all-zero result instead of an error
	hang     chan struct{}    // DH blocks until closed, ignoring ctx
	flipping atomic.Int32     // PublicKey alternates between two keys
}

func newVault(t *testing.T) *vault {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &vault{key: k}
}

func (v *vault) PublicKey(context.Context) (sdk.Key, error) {
	if v.other != nil && v.flipping.Add(1)%2 == 0 {
		return sdk.Key(v.other.PublicKey().Bytes()), nil
	}
	return sdk.Key(v.key.PublicKey().Bytes()), nil
}

func (v *vault) DH(ctx context.Context, peer sdk.Key) (sdk.Key, error) {
	if v.hang != nil {
		<-v.hang
	}
	k := v.key
	if v.other != nil && v.flipping.Load() < 0 {
		k = v.other
	}
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return sdk.Key{}, err
	}
	s, err := k.ECDH(pub)
	if err != nil {
		if v.zeroOK {
			return sdk.Key{}, nil
		}
		return sdk.Key{}, err
	}
	return sdk.Key(s), nil
}

// TestLowOrderTable: every listed point gives the all-zero X25519 result,
// which crypto/ecdh reports as an error.
func TestLowOrderTable(t *testing.T) {
	e, _ := ecdh.X25519().GenerateKey(rand.Reader)
	for _, p := range sdktest.LowOrderPoints {
		pub, err := ecdh.X25519().NewPublicKey(p[:])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.ECDH(pub); err == nil {
			t.Errorf("%x is not of low order", p)
		}
	}
}

func TestGoodVaultPasses(t *testing.T) {
	sdktest.KeyVault(t, newVault(t))
}

// TestBrokenVaultsFail runs the checks on vaults with one fault each and
// requires the matching check to fail with a message that names it.
func TestBrokenVaultsFail(t *testing.T) {
	other := newVault(t).key
	for _, tc := range []struct {
		name, check, want string
		fault             func(v *vault)
	}{
		{"wrong key", "DHMatchesReference", "not the one of its public key", func(v *vault) { v.other = other; v.flipping.Store(-1 << 30) }},
		{"low order accepted", "LowOrderPointsRefused", "a low-order point, returned", func(v *vault) { v.zeroOK = true }},
		{"hangs", "DeadlineHonoured", "ignores its context", func(v *vault) { v.hang = make(chan struct{}) }},
		{"key changes", "PublicKeyStable", "PublicKey changed", func(v *vault) { v.other = other }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVault(t)
			tc.fault(v)
			if v.hang != nil {
				defer close(v.hang)
			}
			var err error
			for _, c := range sdktest.KeyVaultChecks() {
				if c.Name == tc.check {
					err = c.Run(context.Background(), v)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("check %s: %v, want an error containing %q", tc.check, err, tc.want)
			}
			t.Logf("%s: %v", tc.check, err)
		})
	}
}
