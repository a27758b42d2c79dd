// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/discovery-dir/dirdisc"
	"github.com/wgplex/wgplex/plugins/sdk"
	"github.com/wgplex/wgplex/plugins/sdk/sdktest"
)

// TestShippedKeyVaultsConform runs the plugin authors' conformance suite
// against every key vault shipped with wgplex, as built binaries.
func TestShippedKeyVaultsConform(t *testing.T) {
	t.Run("keyvault-file", func(t *testing.T) {
		sdktest.KeyVaultBinary(t, pluginBin(t, "keyvault-file"), "-key", writeKeyFile(t, newTestKey(t), 0o600))
	})
	t.Run("keyvault-memory", func(t *testing.T) {
		sdktest.KeyVaultBinary(t, pluginBin(t, "keyvault-memory"))
	})
	t.Run("versionedvault-v1", func(t *testing.T) {
		sdktest.KeyVaultBinary(t, pluginBin(t, "versionedvault"), "-versions", "1")
	})
	t.Run("keyvault-pkcs11", func(t *testing.T) {
		argv := softHSM(t)
		if _, err := plugins.GenerateKey(fastConfig(t, argv...), false); err != nil {
			t.Fatal(err)
		}
		sdktest.KeyVaultBinary(t, argv...)
	})
}

// dirRegistry drives a discovery-dir directory the way other nodes do:
// one file per node, written whole with a rename.
type dirRegistry struct{ dir string }

func (r dirRegistry) Put(rec sdk.Record) error {
	data, err := dirdisc.FormatRecordFile(&rec)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.dir, ".put-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(r.dir, dirdisc.SelfFileName(rec.PublicKey)))
}

func (r dirRegistry) Delete(k sdk.Key) error {
	err := os.Remove(filepath.Join(r.dir, dirdisc.SelfFileName(k)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// TestShippedDiscoveryConforms runs the discovery suite against the
// directory plugin, in process and as a binary.
func TestShippedDiscoveryConforms(t *testing.T) {
	t.Run("dirdisc", func(t *testing.T) {
		dir := t.TempDir()
		w := dirdisc.New(dir, 20*time.Millisecond, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }()
		defer func() { cancel(); <-done }()
		sdktest.Discovery(t, w, dirRegistry{dir})
	})
	t.Run("discovery-dir", func(t *testing.T) {
		bin := t.TempDir()
		if err := goBuild(bin, "./discovery-dir"); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		sdktest.DiscoveryBinary(t, dirRegistry{dir}, filepath.Join(bin, "discovery-dir"), "-dir", dir, "-interval", "20ms")
	})
}
