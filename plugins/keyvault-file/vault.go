// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/crypto/curve25519"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// fileVault holds the key read from the file. The file is read once at
// start: a key that changes under a running interface would be refused by
// the daemon anyway.
type fileVault struct {
	path string
	// signer is the node's fleet record signing key, nil without one.
	signer ed25519.PrivateKey

	mu   sync.RWMutex
	priv []byte // nil until a key exists
	pub  sdk.Key
}

// openVault reads the key file if it exists. A missing file is not an
// error, so that vault-genkey can create it; the daemon refuses a vault
// without a key at start.
func openVault(path string) (*fileVault, error) {
	v := &fileVault{path: path}
	priv, err := readKeyFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return v, nil
	case err != nil:
		return nil, err
	}
	if err := v.set(priv); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// readKeyFile reads a base64 key, refusing a file that group or others may
// read or write: the whole point of the vault is that only it has the key.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s: mode %04o lets group or others access the private key; chmod 600 it", path, perm)
	}
	buf := make([]byte, 256)
	n, err := f.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	text := bytes.TrimSpace(buf[:n])
	priv := make([]byte, sdk.KeySize)
	m, err := base64.StdEncoding.Decode(priv, text)
	clear(buf)
	if err != nil || m != sdk.KeySize || base64.StdEncoding.DecodedLen(len(text)) > sdk.KeySize+2 {
		clear(priv)
		return nil, fmt.Errorf("%s: not a base64 Curve25519 private key", path)
	}
	return priv, nil
}

// set installs a private key (clamped) and derives the public key.
func (v *fileVault) set(priv []byte) error {
	clamp(priv)
	pub, err := curve25519.X25519(priv, curve25519.Basepoint)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	clear(v.priv)
	v.priv = priv
	copy(v.pub[:], pub)
	return nil
}

// PublicKey implements sdk.KeyVault.
func (v *fileVault) PublicKey(context.Context) (sdk.Key, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.priv == nil {
		return sdk.Key{}, fmt.Errorf("%w: %s does not exist (create it with wgplex vault-genkey)", sdk.ErrNoKey, v.path)
	}
	return v.pub, nil
}

// DH implements sdk.KeyVault.
func (v *fileVault) DH(_ context.Context, peer sdk.Key) (sdk.Key, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.priv == nil {
		return sdk.Key{}, sdk.ErrNoKey
	}
	out, err := curve25519.X25519(v.priv, peer[:])
	if err != nil {
		// x/crypto refuses an all-zero result (a low-order peer key).
		return sdk.Key{}, err
	}
	return sdk.Key(out), nil
}

// GenerateKey implements sdk.KeyGenerator: it writes a fresh key to the
// file, mode 0600, refusing to replace one unless overwrite is set.
func (v *fileVault) GenerateKey(_ context.Context, overwrite bool) (sdk.Key, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(v.path, flags, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return sdk.Key{}, fmt.Errorf("%w: %s", sdk.ErrKeyExists, v.path)
	}
	if err != nil {
		return sdk.Key{}, err
	}
	defer f.Close()
	// An existing file keeps its mode through O_TRUNC.
	if err := f.Chmod(0o600); err != nil {
		return sdk.Key{}, err
	}
	priv := make([]byte, sdk.KeySize)
	if _, err := rand.Read(priv); err != nil {
		return sdk.Key{}, err
	}
	clamp(priv)
	text := []byte(base64.StdEncoding.EncodeToString(priv) + "\n")
	_, err = f.Write(text)
	clear(text)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		clear(priv)
		return sdk.Key{}, err
	}
	if err := v.set(priv); err != nil {
		return sdk.Key{}, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.pub, nil
}

// clamp applies X25519's scalar clamping, as `wg genkey` does before it
// writes a key.
func clamp(k []byte) {
	k[0] &= 248
	k[31] = k[31]&127 | 64
}

// SignRecord implements sdk.RecordSigner with the signing key given by
// -signing-key; without one the vault has no signing capability.
func (v *fileVault) SignRecord(_ context.Context, msg []byte) ([]byte, []byte, error) {
	if v.signer == nil {
		return nil, nil, fmt.Errorf("%w: no -signing-key", sdk.ErrNotSupported)
	}
	return ed25519.Sign(v.signer, msg), v.signer.Public().(ed25519.PublicKey), nil
}
