// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"testing"

	"github.com/wgplex/wgplex/plugins"
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
