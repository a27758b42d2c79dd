// SPDX-License-Identifier: MIT

//go:build !windows

package uapi

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// startClientServer serves h on a socket in a fresh directory and returns the
// directory and the socket's path.
func startClientServer(t *testing.T, h Handler, ifname string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	srv, err := Listen(dir, ifname)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(h, nil)
	t.Cleanup(func() { srv.Close() })
	return dir, srv.Path()
}

func TestClientGet(t *testing.T) {
	want := testSnapshot()
	_, path := startClientServer(t, &fakeHandler{snap: want}, "wgc0")
	c, err := DialPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2 { // two requests on one connection
		got, err := c.Get()
		if err != nil {
			t.Fatal(err)
		}
		// The protocol carries no public key; the client derives it.
		want.PublicKey = want.PrivateKey.PublicKey()
		want.Peers[1].ProtocolVersion = 1
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Get:\n got %+v\nwant %+v", got, want)
		}
	}
}

func TestClientSet(t *testing.T) {
	h := &fakeHandler{}
	_, path := startClientServer(t, h, "wgc1")
	c, err := DialPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := testConfig()
	if err := c.Set(cfg); err != nil {
		t.Fatal(err)
	}
	if h.calls() != 1 || !reflect.DeepEqual(h.applied[0], cfg) {
		t.Fatalf("applied %+v\nwant %+v", h.applied, cfg)
	}

	// A rejected request comes back with its errno, and the client stays
	// usable.
	h.err = core.ErrInvalidConfig
	err = c.Set(cfg)
	var ue *Error
	if !errors.As(err, &ue) || ue.Errno != int64(syscall.EINVAL) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Set error = %v, want EINVAL", err)
	}
	h.err = nil
	if _, err := c.Get(); err != nil {
		t.Fatalf("Get after a failed Set: %v", err)
	}
	// A request that does not parse on the server side.
	bad := core.Config{Peers: []core.PeerConfig{{ProtocolVersion: 2}}}
	if err := c.Set(bad); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Set protocol_version=2: %v", err)
	}
	if err := c.Set(core.Config{KeyStore: core.NewMemoryKeyStore(core.PrivateKey{1})}); !errors.Is(err, ErrKeyStoreNotSendable) {
		t.Fatalf("Set with KeyStore: %v", err)
	}
}

// testConfig uses every field WriteSet can express.
func testConfig() core.Config {
	priv, _ := testKey(0x11)
	pub1, _ := testKey(0x22)
	psk, _ := testKey(0x33)
	pub2, _ := testKey(0x44)
	ep := netip.MustParseAddrPort("[fe80::1%eth0]:51820")
	pk := core.PrivateKey(priv)
	pskv := core.PresharedKey(psk)
	return core.Config{
		PrivateKey:   &pk,
		ListenPort:   ptr(uint16(0)),
		FwMark:       ptr(uint32(0x2a)),
		ReplacePeers: true,
		Peers: []core.PeerConfig{{
			PublicKey:           core.PublicKey(pub1),
			UpdateOnly:          true,
			ProtocolVersion:     1,
			PresharedKey:        &pskv,
			Endpoint:            &ep,
			PersistentKeepalive: ptr(uint16(25)),
			ReplaceAllowedIPs:   true,
			AllowedIPs: []core.AllowedIPChange{
				{Prefix: netip.MustParsePrefix("10.0.0.0/8")},
				{Prefix: netip.MustParsePrefix("fd00::/64"), Remove: true},
			},
		}, {
			PublicKey: core.PublicKey(pub2),
			Remove:    true,
		}},
	}
}

// TestWriteSetParseSet: what the client sends is what the server reads.
func TestWriteSetParseSet(t *testing.T) {
	cfg := testConfig()
	var b bytes.Buffer
	if err := WriteSet(&b, cfg); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	got, err := ParseSet(bufio.NewReader(&b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("ParseSet(WriteSet(cfg)):\n got %+v\nwant %+v", got, cfg)
	}
}

// TestWriteSetGolden pins the order and spelling wg(8) uses.
func TestWriteSetGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSet(&b, testConfig()); err != nil {
		t.Fatal(err)
	}
	want := "private_key=" + strings.Repeat("11", 32) + "\n" +
		"listen_port=0\n" +
		"fwmark=42\n" +
		"replace_peers=true\n" +
		"public_key=" + strings.Repeat("22", 32) + "\n" +
		"update_only=true\n" +
		"protocol_version=1\n" +
		"preshared_key=" + strings.Repeat("33", 32) + "\n" +
		"endpoint=[fe80::1%eth0]:51820\n" +
		"persistent_keepalive_interval=25\n" +
		"replace_allowed_ips=true\n" +
		"allowed_ip=10.0.0.0/8\n" +
		"allowed_ip=-fd00::/64\n" +
		"public_key=" + strings.Repeat("44", 32) + "\n" +
		"remove=true\n"
	if b.String() != want {
		t.Errorf("WriteSet:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestReadGetErrors(t *testing.T) {
	for _, reply := range []string{
		"errno=-19\n\n",
		"listen_port=x\nerrno=0\n\n",
		"listen_port=1\n",
		"\nerrno=0\n\n",
		"garbage\nerrno=0\n\n",
		"errno=0\nmore\n",
	} {
		_, err := readGet(bufio.NewReader(strings.NewReader(reply)))
		if err == nil {
			t.Errorf("readGet(%q) succeeded", reply)
		}
	}
	s, err := readGet(bufio.NewReader(strings.NewReader("future_key=1\npublic_key=" + strings.Repeat("ab", 32) + "\nfuture_peer_key=2\nerrno=0\n\n")))
	if err != nil || len(s.Peers) != 1 {
		t.Errorf("unknown keys: %v %+v", err, s)
	}
	_, err = readGet(bufio.NewReader(strings.NewReader("errno=-19\n\n")))
	if !errors.Is(err, syscall.ENODEV) {
		t.Errorf("errno reply: %v", err)
	}
}

func TestDialErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := DialPath(filepath.Join(dir, "missing.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing socket: %v", err)
	}
	plain := filepath.Join(dir, "plain.sock")
	os.WriteFile(plain, nil, 0o600)
	if _, err := DialPath(plain); !errors.Is(err, syscall.EBADF) {
		t.Errorf("plain file: %v", err)
	}
	if _, err := Dial("a/b"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("name with slash: %v", err)
	}
}

func TestListDir(t *testing.T) {
	dir, _ := startClientServer(t, &fakeHandler{}, "wgl0")
	// A socket nobody listens on any more, as a crashed daemon leaves it.
	stale := filepath.Join(dir, "wgl1.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	os.WriteFile(filepath.Join(dir, "notasocket.sock"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, "other"), nil, 0o600)

	got, err := ListDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"wgl0"}) {
		t.Errorf("ListDir = %v, want [wgl0]", got)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale socket not removed: %v", err)
	}
	if got, err := ListDir(filepath.Join(dir, "nope")); err != nil || got != nil {
		t.Errorf("missing dir: %v %v", got, err)
	}
}
