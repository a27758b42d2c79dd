// SPDX-License-Identifier: MIT

package proxyconf

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testKey  = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
	testPeer = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
)

func readTestdata(dir string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return os.ReadFile(p)
	}
}

func parseFile(t *testing.T, path string) *File {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(path, data, Options{ReadFile: readTestdata("testdata")})
	if err != nil {
		t.Fatalf("%v", err)
	}
	return f
}

// wireproxy's own example configurations parse, meaning what they mean
// there.
func TestWireproxyExamples(t *testing.T) {
	f := parseFile(t, "testdata/wireproxy_sample.conf")
	if len(f.Socks5) != 1 || f.Socks5[0].BindAddress != "127.0.0.1:25344" || len(f.HTTP) != 1 ||
		len(f.TCPClientTunnels) != 1 || f.TCPClientTunnels[0].Target != "play.example.net:25565" ||
		len(f.TCPServerTunnels) != 1 || f.TCPServerTunnels[0].ListenPort != 3422 || len(f.STDIOTunnels) != 1 {
		t.Fatalf("sample: %+v", f)
	}
	if len(f.WG.Peers) != 1 || len(f.WG.Peers[0].AllowedIPs) != 2 || f.WG.Peers[0].AllowedIPs[0].String() != "0.0.0.0/0" {
		t.Fatalf("a peer without AllowedIPs should route everything: %+v", f.WG.Peers)
	}
	if len(f.WG.Interface.DNS) != 1 || f.WG.Interface.DNS[0] != netip.MustParseAddr("10.200.200.1") {
		t.Fatalf("DNS %v", f.WG.Interface.DNS)
	}

	f = parseFile(t, "testdata/wireproxy_multipeer.conf")
	if len(f.WG.Peers) != 2 || len(f.TCPServerTunnels) != 3 || len(f.WG.Peers[1].AllowedIPs) != 2 {
		t.Fatalf("multipeer: %+v", f)
	}

	f = parseFile(t, "testdata/wireproxy_listen.conf")
	if f.WG.Interface.ListenPort == nil || *f.WG.Interface.ListenPort != 5400 || f.WG.Peers[0].Endpoint != "" {
		t.Fatalf("listen: %+v", f.WG.Interface)
	}

	f = parseFile(t, "testdata/wireproxy_auth.conf")
	if len(f.HTTP) != 2 || f.HTTP[1].Username != "peter" || string(f.HTTP[1].Password) != "hunter123" ||
		len(f.CheckAlive) != 1 || f.CheckAliveInterval != 10 {
		t.Fatalf("auth: %+v", f)
	}
	f.Wipe()
	if string(f.HTTP[1].Password) == "hunter123" {
		t.Fatal("Wipe left the password")
	}

	f = parseFile(t, "testdata/wireproxy_wgconfig.conf")
	if f.WGConfig != "wg0.conf" || len(f.WG.Interface.Address) != 2 || len(f.WG.Peers[0].AllowedIPs) != 2 || len(f.Socks5) != 1 {
		t.Fatalf("WGConfig: %+v", f)
	}

	f = parseFile(t, "testdata/wgplex_udp.conf")
	if len(f.UDPClientTunnels) != 1 || len(f.UDPServerTunnels) != 1 || f.UDPServerTunnels[0].ListenPort != 514 {
		t.Fatalf("udp: %+v", f)
	}
}

func TestCaseAndEnvironment(t *testing.T) {
	env := map[string]string{"WG_KEY": testKey, "PROXY_PW": "s3cret"}
	src := "[INTERFACE]\naddress = 10.0.0.2/32\nprivatekey = $WG_KEY\n[PEER]\npublickey = " + testPeer +
		"\n[SOCKS5]\nbindaddress = 127.0.0.1:1080\nUSERNAME = u\npassword = $PROXY_PW\n[HTTP]\nBindAddress = :8080\nPassword = $$x\nUsername = \"quoted\"\n"
	f, err := Parse("c.conf", []byte(src), Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	if f.WG.Interface.PrivateKey == nil || string(f.Socks5[0].Password) != "s3cret" || string(f.HTTP[0].Password) != "$x" || f.HTTP[0].Username != "quoted" {
		t.Fatalf("%+v", f)
	}
}

func TestErrors(t *testing.T) {
	base := "[Interface]\nPrivateKey = " + testKey + "\nAddress = 10.0.0.2/32\n[Peer]\nPublicKey = " + testPeer + "\n"
	cases := []struct{ src, want string }{
		{base + "[Socks6]\n", "c.conf:6: unknown section [Socks6]"},
		{base + "[Socks5]\n", "c.conf:6: [Socks5] needs BindAddress"},
		{base + "[Socks5]\nBindAddress = nope\n", "c.conf:7: BindAddress \"nope\" is not host:port"},
		{base + "[Socks5]\nBindAddress = :1\nColor = red\n", "c.conf:8: unknown key \"color\" in [Socks5]"},
		{base + "[Socks5]\nBindAddress = :1\nBindAddress = :2\n", "c.conf:8: second \"BindAddress\" in [Socks5] (first on line 7)"},
		{base + "[http]\nBindAddress = :1\nUsername = u\n", "c.conf:8: [http] needs both Username and Password, or neither"},
		{base + "[TCPServerTunnel]\nListenPort = 70000\nTarget = a:1\n", "c.conf:7: ListenPort \"70000\" is not a port from 1 to 65535"},
		{base + "[TCPClientTunnel]\nBindAddress = :1\nTarget = :80\n", "c.conf:8: Target \":80\" is not host:port"},
		{base + "[UDPClientTunnel]\nBindAddress = :1\n", "c.conf:6: [UDPClientTunnel] needs Target"},
		{base + "[Socks5]\nBindAddress = $NOPE\n", "c.conf:7: \"BindAddress\": refers to the unset environment variable NOPE"},
		{base + "[Socks5\n", "c.conf:6: section header \"[Socks5\" has no closing ]"},
		{base + "junk\n", "c.conf:6: line is neither a [section] nor key = value"},
		{"Foo = 1\n" + base, "c.conf:1: key \"Foo\" outside a section"},
		{"WGConfig = x.conf\n" + base, "c.conf:1: WGConfig and an [Interface]"},
		{"WGConfig = x.conf\n", "c.conf:1: WGConfig: "},
		{base + "ListenPort = x\n", "c.conf:6: unknown key \"ListenPort\" in [Peer]"},
		{"[Interface]\nPrivateKey = " + testKey + "\nCheckAliveInterval = 3\n", "c.conf:3: CheckAliveInterval is only valid with CheckAlive"},
	}
	for _, c := range cases {
		_, err := Parse("c.conf", []byte(c.src), Options{ReadFile: func(string) ([]byte, error) { return nil, errors.New("no such file") }})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s...", c.src, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Errorf("error quotes the private key: %v", err)
		}
	}
}

func TestWGConfigFileErrors(t *testing.T) {
	read := func(string) ([]byte, error) {
		return []byte("[Interface]\nPrivateKey = " + testKey + "\n[Socks5]\nBindAddress = :1\n"), nil
	}
	_, err := Parse("c.conf", []byte("WGConfig = wg.conf\n"), Options{ReadFile: read})
	if err == nil || !strings.HasPrefix(err.Error(), "wg.conf:3: [Socks5] belongs in the proxy configuration") {
		t.Fatalf("got %v", err)
	}
	read = func(string) ([]byte, error) { return []byte("WGConfig = again.conf\n"), nil }
	if _, err = Parse("c.conf", []byte("WGConfig = wg.conf\n"), Options{ReadFile: read}); err == nil {
		t.Fatal("nested WGConfig accepted")
	}
	if _, err = Parse("c.conf", []byte("WGConfig = wg.conf\n"), Options{}); err == nil {
		t.Fatal("WGConfig accepted without a way to read it")
	}
}

func TestSecretsNotQuoted(t *testing.T) {
	src := "[Interface]\nPrivateKey " + testKey + "\n"
	_, err := Parse("c.conf", []byte(src), Options{})
	if err == nil || strings.Contains(err.Error(), testKey[:20]) {
		t.Fatalf("got %v", err)
	}
	src = "[Interface]\nPrivateKey = " + testKey + "\n[http]\nBindAddress = :1\nUsername = u\nPasswordhunter2\n"
	_, err = Parse("c.conf", []byte(src), Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v", err)
	}
}
