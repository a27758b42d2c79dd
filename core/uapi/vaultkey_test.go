// SPDX-License-Identifier: MIT

//go:build !windows

package uapi

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/noise"
)

// With a key vault in charge the snapshot has a public key but no private
// key: get reports the public key on its extension line, never a private
// key, and the client reads it back.
func TestGetReportsVaultPublicKey(t *testing.T) {
	priv, err := noise.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.PublicKey()
	var buf bytes.Buffer
	if err := WriteGet(&buf, core.Snapshot{PublicKey: pub, ListenPort: 51820}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, PublicKeyExtension+"="+pub.Hex()+"\n") {
		t.Fatalf("get output %q lacks the public key line first", out)
	}
	if strings.Contains(out, "private_key") {
		t.Fatal("get output has a private_key line")
	}
	s, err := readGet(bufio.NewReader(strings.NewReader(out + "errno=0\n\n")))
	if err != nil {
		t.Fatal(err)
	}
	if s.PublicKey != pub || s.PrivateKey != nil || s.ListenPort != 51820 {
		t.Fatalf("read back %+v", s)
	}
	// With the private key shown, no extension line.
	buf.Reset()
	if err := WriteGet(&buf, core.Snapshot{PublicKey: pub, PrivateKey: &priv}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), PublicKeyExtension) {
		t.Fatal("extension line next to private_key")
	}
}
