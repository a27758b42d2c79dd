// SPDX-License-Identifier: MIT

// Command badvault is a key vault that misbehaves on request, for the
// host's tests: it hangs, answers garbage, speaks another protocol
// version or presents the wrong magic cookie.
package main

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"flag"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/wgplex/wgplex/plugins/sdk"
)

type vault struct {
	key  *ecdh.PrivateKey
	mode string
}

func (v *vault) PublicKey(context.Context) (sdk.Key, error) {
	return sdk.Key(v.key.PublicKey().Bytes()), nil
}

// honest is set once the first DH call, the daemon's start-up self-check,
// has been answered correctly: the misbehaviour under test comes after
// the vault was let in.
var honest atomic.Bool

func honestOnce() bool { return !honest.Swap(true) }

func (v *vault) DH(ctx context.Context, peer sdk.Key) (sdk.Key, error) {
	mode := v.mode
	if mode != "wrong-dh" && honestOnce() {
		mode = "ok"
	}
	switch mode {
	case "hang":
		select {} // never answers, whatever the deadline says
	case "slow":
		time.Sleep(50 * time.Millisecond)
	case "zero":
		return sdk.Key{}, nil
	case "wrong-dh":
		// Reports one key, computes with another: a vault whose key file
		// and public key went out of step.
		other, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return sdk.Key{}, err
		}
		pub, err := ecdh.X25519().NewPublicKey(peer[:])
		if err != nil {
			return sdk.Key{}, err
		}
		s, err := other.ECDH(pub)
		if err != nil {
			return sdk.Key{}, err
		}
		return sdk.Key(s), nil
	}
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
	mode := flag.String("mode", "ok", "ok|hang|slow|zero|wrong-dh|short-dh|zero-dh|short-pub|wrong-version|wrong-cookie|exit|stdout|stdout-long")
	seed := flag.String("key", "", "file with the 32 raw bytes of the private key; random if empty")
	marker := flag.String("wrong-dh-after", "", "a file: if it exists, behave as -mode wrong-dh; created otherwise (a vault that goes wrong across a restart)")
	flag.Parse()
	if *marker != "" {
		if _, err := os.Stat(*marker); err == nil {
			*mode = "wrong-dh"
		} else if err := os.WriteFile(*marker, nil, 0o600); err != nil {
			panic(err)
		}
	}
	var key *ecdh.PrivateKey
	var err error
	if *seed != "" {
		var b []byte
		b, err = os.ReadFile(*seed)
		if err == nil {
			key, err = ecdh.X25519().NewPrivateKey(b)
		}
	} else {
		key, err = ecdh.X25519().GenerateKey(nil)
	}
	if err != nil {
		panic(err)
	}
	hs := sdk.Handshake
	switch *mode {
	case "wrong-version":
		hs.ProtocolVersion = sdk.ProtocolVersion + 41
	case "wrong-cookie":
		hs.MagicCookieValue = "not-the-wgplex-cookie"
	case "exit":
		os.Stderr.WriteString("badvault: giving up before the handshake\n")
		os.Exit(3)
	case "stdout":
		// A debug print before Serve takes the handshake's place.
		os.Stdout.WriteString("hello from main\x1b[31m\n")
	case "stdout-long":
		os.Stdout.WriteString(strings.Repeat("A", 500) + "\n")
	}
	var impl plugin.Plugin = &sdk.KeyVaultPlugin{Impl: &vault{key: key, mode: *mode}}
	switch *mode {
	case "short-dh", "zero-dh", "short-pub":
		impl = &rawPlugin{mode: *mode, pub: key.PublicKey().Bytes(), key: key}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         plugin.PluginSet{sdk.KindKeyVault: impl},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
