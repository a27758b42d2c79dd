// SPDX-License-Identifier: MIT

package sdktest

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// LowOrderPoints are the Curve25519 points of small order (and their
// non-canonical encodings): X25519 of any scalar with one of them is all
// zeros, a result a peer could predict. A vault must refuse every one.
var LowOrderPoints = func() []sdk.Key {
	hexes := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	keys := make([]sdk.Key, len(hexes))
	for i, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sdk.KeySize {
			panic("sdktest: bad low-order point table")
		}
		keys[i] = sdk.Key(b)
	}
	return keys
}()

// Sizes of the key vault checks.
const (
	dhRounds        = 32 // random points compared with the reference
	concurrentCalls = 16 // goroutines calling DH at once
	callsEach       = 8  // DH calls per goroutine
)

// promptly is how long a vault may take to give up once its context is
// done: the daemon's default call timeout.
const promptly = plugins.DefaultCallTimeout

// KeyVault runs the key vault conformance suite against v: an
// implementation in this process, or the client of a launched plugin
// (see KeyVaultBinary).
func KeyVault(t *testing.T, v sdk.KeyVault) {
	t.Helper()
	run(t, KeyVaultChecks(), v)
}

// KeyVaultBinary launches the plugin argv the way the daemon does (the
// go-plugin handshake, AutoMTLS, the daemon's start-up checks: public key
// and DH self-check) and runs the suite against it over gRPC. A plugin
// that the daemon would refuse fails here with the daemon's message.
func KeyVaultBinary(t *testing.T, argv ...string) {
	t.Helper()
	run(t, KeyVaultChecks(), StartKeyVault(t, argv...))
}

// StartKeyVault launches the key vault plugin argv as the daemon does and
// returns its client; it is stopped when the test ends.
func StartKeyVault(t testing.TB, argv ...string) sdk.KeyVault {
	t.Helper()
	tt, _ := t.(*testing.T)
	cfg := plugins.Config{Command: argv}
	if tt != nil {
		cfg.Logger = testLog(tt)
	}
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		t.Fatalf("the daemon would refuse this key vault: %v", err)
	}
	t.Cleanup(func() { kv.Close() })
	impl, ok := kv.Plugin().Impl().(sdk.KeyVault)
	if !ok {
		t.Fatalf("plugin dispensed %T, not a key vault", kv.Plugin().Impl())
	}
	return impl
}

// KeyVaultChecks are the checks of the key vault suite, in order.
func KeyVaultChecks() []Check[sdk.KeyVault] {
	return []Check[sdk.KeyVault]{
		{"PublicKeyStable", checkPublicKeyStable},
		{"DHMatchesReference", checkDHReference},
		{"LowOrderPointsRefused", checkLowOrder},
		{"ConcurrentCalls", checkConcurrent},
		{"DeadlineHonoured", checkDeadline},
		{"GenerateKeyKeepsExistingKey", checkGenerateKey},
	}
}

// publicKey fetches the vault's public key and checks that it is a usable
// point.
func publicKey(ctx context.Context, v sdk.KeyVault) (*ecdh.PublicKey, sdk.Key, error) {
	pub, err := v.PublicKey(ctx)
	if err != nil {
		return nil, pub, fmt.Errorf("PublicKey: %w (the daemon refuses to start with this vault)", err)
	}
	for _, lo := range LowOrderPoints {
		if subtle.ConstantTimeCompare(pub[:], lo[:]) == 1 {
			return nil, pub, fmt.Errorf("PublicKey returned a low-order point %s: no private key has it", b64(pub))
		}
	}
	p, err := ecdh.X25519().NewPublicKey(pub[:])
	if err != nil {
		return nil, pub, fmt.Errorf("PublicKey returned %s: %w", b64(pub), err)
	}
	return p, pub, nil
}

func checkPublicKeyStable(ctx context.Context, v sdk.KeyVault) error {
	_, first, err := publicKey(ctx, v)
	if err != nil {
		return err
	}
	for range 5 {
		k, err := v.PublicKey(ctx)
		if err != nil {
			return fmt.Errorf("PublicKey failed on a later call: %w", err)
		}
		if k != first {
			return fmt.Errorf("PublicKey changed from %s to %s between calls: the daemon refuses a vault whose key changes", b64(first), b64(k))
		}
	}
	return nil
}

// dhOnce sends e·G for a fresh scalar e and compares the vault's answer with
// X25519(e, public key): the vault's private key never needs to be known.
func dhOnce(ctx context.Context, v sdk.KeyVault, pub *ecdh.PublicKey) error {
	e, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	want, err := e.ECDH(pub)
	if err != nil {
		return err
	}
	E := sdk.Key(e.PublicKey().Bytes())
	got, err := v.DH(ctx, E)
	if err != nil {
		return fmt.Errorf("DH(%s): %w", b64(E), err)
	}
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return fmt.Errorf("DH(%s) does not match X25519(e, PublicKey()): the vault computes with a private key that is not the one of its public key (the daemon refuses it at start; every handshake would fail)", b64(E))
	}
	return nil
}

func checkDHReference(ctx context.Context, v sdk.KeyVault) error {
	pub, _, err := publicKey(ctx, v)
	if err != nil {
		return err
	}
	for range dhRounds {
		if err := dhOnce(ctx, v, pub); err != nil {
			return err
		}
	}
	return nil
}

func checkLowOrder(ctx context.Context, v sdk.KeyVault) error {
	for _, lo := range LowOrderPoints {
		got, err := v.DH(ctx, lo)
		if err == nil {
			return fmt.Errorf("DH(%s), a low-order point, returned %s instead of an error: the result is predictable and must be refused", b64(lo), b64(got))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func checkConcurrent(ctx context.Context, v sdk.KeyVault) error {
	pub, _, err := publicKey(ctx, v)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, concurrentCalls)
	for range concurrentCalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range callsEach {
				if err := dhOnce(ctx, v, pub); err != nil {
					errs <- fmt.Errorf("with %d concurrent callers: %w", concurrentCalls, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func checkDeadline(ctx context.Context, v sdk.KeyVault) error {
	pub, _, err := publicKey(ctx, v)
	if err != nil {
		return err
	}
	// A call whose context is already done may still succeed (a software
	// vault answers in microseconds), but must come back at once, and
	// correct if it claims success.
	for _, d := range []time.Duration{0, 50 * time.Millisecond} {
		cctx, cancel := context.WithTimeout(ctx, d)
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- dhOnce(cctx, v, pub) }()
		select {
		case err := <-done:
			expired := cctx.Err() != nil
			cancel()
			switch {
			case err == nil:
				// Answered in time, and correctly (dhOnce compared it).
			case !expired:
				return err
			case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
				// A failure past the deadline must say so, or the daemon
				// reports a broken vault instead of a slow one.
				return fmt.Errorf("DH past a %v deadline failed with %q, not with a deadline error", d, err)
			}
		case <-time.After(d + promptly):
			cancel()
			return fmt.Errorf("DH with a %v deadline had not returned after %v: the vault ignores its context (the daemon gives up after its call timeout, %v)", d, time.Since(start).Round(time.Millisecond), plugins.DefaultCallTimeout)
		}
	}
	return nil
}

func checkGenerateKey(ctx context.Context, v sdk.KeyVault) error {
	g, ok := v.(sdk.KeyGenerator)
	if !ok {
		return nil
	}
	_, before, err := publicKey(ctx, v)
	if err != nil {
		return err
	}
	_, err = g.GenerateKey(ctx, false)
	switch {
	case errors.Is(err, sdk.ErrNotSupported):
		return nil
	case err == nil:
		return errors.New("GenerateKey without overwrite succeeded on a vault that holds a key; it must fail with sdk.ErrKeyExists")
	case !errors.Is(err, sdk.ErrKeyExists):
		return fmt.Errorf("GenerateKey without overwrite on a vault with a key: %w; want sdk.ErrKeyExists", err)
	}
	after, err := v.PublicKey(ctx)
	if err != nil {
		return err
	}
	if after != before {
		return errors.New("a refused GenerateKey changed the public key")
	}
	return nil
}

// b64 writes a public key (or a result the suite knows to be predictable)
// the way WireGuard tools do.
func b64(k sdk.Key) string { return base64.StdEncoding.EncodeToString(k[:]) }
