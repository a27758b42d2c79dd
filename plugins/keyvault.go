// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// ErrKeyChanged means a key vault came back with a different public key
// than the one the interface was started with. Handshakes made with it
// would use an identity the peers do not know; the vault is refused until
// it serves the original key again.
var ErrKeyChanged = errors.New("key vault public key changed")

// KeyVault is a core.KeyStore served by a key vault plugin. The public key
// is learnt at start and never changes afterwards; DH goes to the plugin
// with the call timeout. While the plugin is down, hung, or serving another
// key, DH fails with an error wrapping core.ErrKeyStore: the core fails
// that handshake and the peer retries later, while sessions that already
// exist keep flowing.
type KeyVault struct {
	p   *Plugin
	log *slog.Logger
	pub core.PublicKey

	// pubOnce guards the first public key, learnt in OnStart before pub
	// can be read by anyone else.
	pubOnce sync.Once
	changed atomic.Bool
}

var _ core.KeyStore = (*KeyVault)(nil)

// StartKeyVault launches a key vault plugin (cfg.Kind, OnStart and
// HealthCheck are set here) and returns once it has reported its public
// key.
func StartKeyVault(cfg Config) (*KeyVault, error) {
	cfg.Kind = sdk.KindKeyVault
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	k := &KeyVault{log: cfg.Logger.With("plugin", cfg.Name, "kind", cfg.Kind)}
	// At every start, not only the first: a restarted vault may come back
	// with another key file or token behind the same public key.
	cfg.OnStart = func(ctx context.Context, impl any) error {
		if err := k.checkKey(ctx, impl); err != nil {
			return err
		}
		return selfCheck(ctx, impl.(sdk.KeyVault), sdk.Key(k.pub))
	}
	// Asking for the public key is a better health check than gRPC's: it
	// goes through the vault's own code, and it notices a changed key.
	cfg.HealthCheck = k.checkKey
	p, err := Start(cfg)
	if err != nil {
		return nil, err
	}
	k.p = p
	return k, nil
}

// checkKey fetches the vault's public key; the first one becomes the
// interface's, any later one must be equal to it.
func (k *KeyVault) checkKey(ctx context.Context, impl any) error {
	v, ok := impl.(sdk.KeyVault)
	if !ok {
		return fmt.Errorf("plugin dispensed %T, not a key vault", impl)
	}
	pub, err := v.PublicKey(ctx)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	k.pubOnce.Do(func() { k.pub = core.PublicKey(pub) })
	if core.PublicKey(pub) != k.pub {
		if !k.changed.Swap(true) {
			k.log.Error("Key vault now reports a different public key; refusing it until the original key is back",
				"want", k.pub.String(), "got", core.PublicKey(pub).String())
		}
		return fmt.Errorf("%w: started with %s, now %s", ErrKeyChanged, k.pub, core.PublicKey(pub))
	}
	if k.changed.Swap(false) {
		k.log.Info("Key vault serves the original public key again", "public_key", k.pub.String())
	}
	return nil
}

// PublicKey returns the vault's public key as learnt at start.
func (k *KeyVault) PublicKey() core.PublicKey { return k.pub }

// DH asks the vault for X25519(static private, peer).
func (k *KeyVault) DH(peer core.PublicKey) ([32]byte, error) {
	if k.changed.Load() {
		return [32]byte{}, fmt.Errorf("%w: %w", core.ErrKeyStore, ErrKeyChanged)
	}
	var shared sdk.Key
	err := k.p.Call("DH", func(ctx context.Context, impl any) error {
		var err error
		shared, err = impl.(sdk.KeyVault).DH(ctx, sdk.Key(peer))
		return err
	})
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %w", core.ErrKeyStore, err)
	}
	return shared, nil
}

// SignRecord asks the vault to sign a fleet record with its signing key;
// it fails with sdk.ErrNotSupported when the vault has none.
func (k *KeyVault) SignRecord(msg []byte) (sig []byte, pub ed25519.PublicKey, err error) {
	err = k.p.Call("SignRecord", func(ctx context.Context, impl any) error {
		s, ok := impl.(sdk.RecordSigner)
		if !ok {
			return sdk.ErrNotSupported
		}
		var p []byte
		sig, p, err = s.SignRecord(ctx, msg)
		pub = p
		return err
	})
	return sig, pub, err
}

// Plugin is the supervised plugin behind the store.
func (k *KeyVault) Plugin() *Plugin { return k.p }

// Close stops the plugin; DH fails from then on.
func (k *KeyVault) Close() error { return k.p.Close() }

// GenerateKey launches a key vault plugin once, asks it to generate its
// key, and stops it. It is what `wgplex vault-genkey` does; the plugin need
// not have a key yet.
func GenerateKey(cfg Config, overwrite bool) (core.PublicKey, error) {
	cfg.Kind = sdk.KindKeyVault
	cfg.OnStart, cfg.HealthCheck = nil, nil
	p, err := Start(cfg)
	if err != nil {
		return core.PublicKey{}, err
	}
	defer p.Close()
	var pub sdk.Key
	err = p.Call("GenerateKey", func(ctx context.Context, impl any) error {
		g, ok := impl.(sdk.KeyGenerator)
		if !ok {
			return sdk.ErrNotSupported
		}
		var err error
		pub, err = g.GenerateKey(ctx, overwrite)
		return err
	})
	return core.PublicKey(pub), err
}
