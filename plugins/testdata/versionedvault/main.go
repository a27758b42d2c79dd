// SPDX-License-Identifier: MIT

// Command versionedvault is a key vault that serves the protocol versions
// named by -versions (v1 through the SDK, v2 and v3 through the test-only
// kvv2 service), for the negotiation tests.
package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/plugins/sdk"
	"github.com/wgplex/wgplex/plugins/testdata/kvv2"
)

type vault struct{ key *ecdh.PrivateKey }

func (v *vault) PublicKey(context.Context) (sdk.Key, error) {
	return sdk.Key(v.key.PublicKey().Bytes()), nil
}

func (v *vault) DH(_ context.Context, peer sdk.Key) (sdk.Key, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return sdk.Key{}, err
	}
	s, err := v.key.ECDH(pub)
	if err != nil {
		return sdk.Key{}, err
	}
	return sdk.Key(s), nil
}

func main() {
	list := flag.String("versions", "1", "comma-separated protocol versions to serve")
	flag.Parse()
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	v := &vault{key: key}
	sets := map[int]plugin.PluginSet{}
	for _, f := range strings.Split(*list, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "versionedvault: bad -versions:", err)
			os.Exit(2)
		}
		if n == 1 {
			sets[n] = plugin.PluginSet{sdk.KindKeyVault: &sdk.KeyVaultPlugin{Impl: v}}
		} else {
			sets[n] = plugin.PluginSet{sdk.KindKeyVault: &kvv2.Plugin{Impl: v}}
		}
	}
	sdk.ServeVersions(sets)
}
