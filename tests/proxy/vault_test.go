// SPDX-License-Identifier: MIT

//go:build linux

package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyVault runs a proxy whose static key is held by the keyvault-file
// plugin, as the TUN daemon does with --keyvault: the file has no
// PrivateKey, the handshake still completes, show prints the vault's
// public key and showconf no private key.
func TestKeyVault(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from behind the vault")
	}))
	t.Cleanup(web.Close)
	ka, kb := newKey(t), newKey(t)
	plugin := filepath.Join(filepath.Dir(wgplexBinary(t)), "keyvault-file")
	keyDir := sharedDir(t)
	keyFile := filepath.Join(keyDir, "b.key")
	if err := os.WriteFile(keyFile, []byte(kb.priv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Chown(keyFile, nobody, nobody)
	}
	b := startProxy(t, "vb", fmt.Sprintf(`[Interface]
Address = 10.78.0.2/24

[Peer]
PublicKey = %s
AllowedIPs = 10.78.0.1/32

[TCPServerTunnel]
ListenPort = 80
Target = %s
`, ka.pub, web.Listener.Addr()), "error", "--keyvault", plugin+" -key "+keyFile)
	a := startProxy(t, "va", fmt.Sprintf(`[Interface]
Address = 10.78.0.1/24
PrivateKey = %s

[Peer]
PublicKey = %s
AllowedIPs = 10.78.0.2/32
Endpoint = 127.0.0.1:%d

[Socks5]
BindAddress = 127.0.0.1:0
`, ka.priv, kb.pub, b.port), "error")
	wantBody(t, &url.URL{Scheme: "socks5", Host: a.servers["socks5"]}, "http://10.78.0.2/", "hello from behind the vault")
	out, err := b.wgplex(t, "show", "vb", "public-key")
	if err != nil || strings.TrimSpace(out) != kb.pub {
		t.Fatalf("show public-key: %q %v, want %s", out, err, kb.pub)
	}
	out, err = b.wgplex(t, "showconf", "vb")
	if err != nil || strings.Contains(out, "PrivateKey") || strings.Contains(out, kb.priv) {
		t.Fatalf("showconf with a vault: %v\n%s", err, out)
	}
}
