// SPDX-License-Identifier: MIT

package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"github.com/wgplex/wgplex/plugins/sdk/sdktest"
)

// TestConformance is what a plugin author runs: the SDK's conformance
// suite against the implementation, in process.
func TestConformance(t *testing.T) {
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sdktest.KeyVault(t, &memoryVault{key: key})
}
