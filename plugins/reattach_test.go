// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
	"github.com/wgplex/wgplex/plugins/sdk"
)

type memVault struct{ key *ecdh.PrivateKey }

func (v *memVault) PublicKey(context.Context) (sdk.Key, error) {
	return sdk.Key(v.key.PublicKey().Bytes()), nil
}

func (v *memVault) DH(_ context.Context, peer sdk.Key) (sdk.Key, error) {
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

// TestReattachDebugPlugin serves a vault the way a plugin under a
// debugger does (in this very process, so a daemon that killed what it
// reattached to would kill the test), reads the printed setting, and has
// the host reattach to it twice, as across daemon restarts.
func TestReattachDebugPlugin(t *testing.T) {
	key, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- sdk.ServeKeyVaultDebug(ctx, &memVault{key: key}, pw)
		pw.Close()
	}()
	var setting string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if _, v, ok := strings.Cut(sc.Text(), sdk.ReattachEnv+"="); ok {
			setting = strings.Trim(v, "'")
			break
		}
	}
	go io.Copy(io.Discard, pr)
	r, err := sdk.ParseReattach(setting)
	if err != nil {
		t.Fatalf("printed setting %q: %v", setting, err)
	}
	cfg := fastConfig(t, "debugged-vault")
	cfg.Reattach = r.Config()
	kv, err := plugins.StartKeyVault(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if kv.PublicKey() != core.PublicKey(key.PublicKey().Bytes()) {
		t.Fatal("reattached to the wrong vault")
	}
	if _, err := kv.DH(randomPeer(t)); err != nil {
		t.Fatal(err)
	}
	kv.Close()
	// The plugin outlives the daemon, as a debugging session should: a
	// restarted daemon reattaches to it.
	kv, err = plugins.StartKeyVault(cfg)
	if err != nil {
		t.Fatalf("reattach after the first host closed: %v", err)
	}
	if _, err := kv.DH(randomPeer(t)); err != nil {
		t.Fatal(err)
	}
	kv.Close()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the debugged plugin did not stop when its context ended")
	}
}
