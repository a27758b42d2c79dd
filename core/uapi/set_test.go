// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// testKey returns a key whose bytes are all b, and its hex form.
func testKey(b byte) ([keyLen]byte, string) {
	var k [keyLen]byte
	for i := range k {
		k[i] = b
	}
	return k, strings.Repeat(fmt.Sprintf("%02x", b), keyLen)
}

func parse(t *testing.T, body string) (core.Config, error) {
	t.Helper()
	return ParseSet(bufio.NewReader(strings.NewReader(body)))
}

func ptr[T any](v T) *T { return &v }

func TestParseSetEveryKey(t *testing.T) {
	priv, privHex := testKey(0x11)
	pub1, pub1Hex := testKey(0x22)
	psk, pskHex := testKey(0x33)
	pub2, pub2Hex := testKey(0x44)
	pub3, pub3Hex := testKey(0x55)
	body := "private_key=" + privHex + "\n" +
		"listen_port=51820\n" +
		"fwmark=4660\n" +
		"replace_peers=true\n" +
		"public_key=" + pub1Hex + "\n" +
		"protocol_version=1\n" +
		"update_only=true\n" +
		"preshared_key=" + pskHex + "\n" +
		"endpoint=[fe80::1%eth0]:51820\n" +
		"persistent_keepalive_interval=25\n" +
		"replace_allowed_ips=true\n" +
		"allowed_ip=10.0.0.1/24\n" +
		"allowed_ip=-fd00::/64\n" +
		"allowed_ip=0.0.0.0/0\n" +
		"public_key=" + pub2Hex + "\n" +
		"remove=true\n" +
		"public_key=" + pub3Hex + "\n" +
		"endpoint=192.0.2.1:1\n" +
		"\n"
	got, err := parse(t, body)
	if err != nil {
		t.Fatal(err)
	}
	want := core.Config{
		PrivateKey:   ptr(core.PrivateKey(priv)),
		ListenPort:   ptr(uint16(51820)),
		FwMark:       ptr(uint32(4660)),
		ReplacePeers: true,
		Peers: []core.PeerConfig{
			{
				PublicKey:           core.PublicKey(pub1),
				ProtocolVersion:     1,
				UpdateOnly:          true,
				PresharedKey:        ptr(core.PresharedKey(psk)),
				Endpoint:            ptr(netip.MustParseAddrPort("[fe80::1%eth0]:51820")),
				PersistentKeepalive: ptr(uint16(25)),
				ReplaceAllowedIPs:   true,
				AllowedIPs: []core.AllowedIPChange{
					{Prefix: netip.MustParsePrefix("10.0.0.1/24")},
					{Prefix: netip.MustParsePrefix("fd00::/64"), Remove: true},
					{Prefix: netip.MustParsePrefix("0.0.0.0/0")},
				},
			},
			{PublicKey: core.PublicKey(pub2), Remove: true},
			{PublicKey: core.PublicKey(pub3), Endpoint: ptr(netip.MustParseAddrPort("192.0.2.1:1"))},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseSetEmptyAndRemovals(t *testing.T) {
	got, err := parse(t, "\n")
	if err != nil || !reflect.DeepEqual(got, core.Config{}) {
		t.Fatalf("empty set: %+v, %v", got, err)
	}

	_, zeroHex := testKey(0)
	_, pubHex := testKey(0x42)
	got, err = parse(t, "private_key="+zeroHex+"\nfwmark=0\npublic_key="+pubHex+"\npreshared_key="+zeroHex+"\npersistent_keepalive_interval=0\n\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.PrivateKey == nil || !got.PrivateKey.IsZero() {
		t.Errorf("zero private_key should be a pointer to the zero key, got %v", got.PrivateKey)
	}
	if got.FwMark == nil || *got.FwMark != 0 {
		t.Errorf("fwmark=0 should set 0, got %v", got.FwMark)
	}
	p := got.Peers[0]
	if p.PresharedKey == nil || !p.PresharedKey.IsZero() {
		t.Errorf("zero preshared_key should be a pointer to the zero key")
	}
	if p.PersistentKeepalive == nil || *p.PersistentKeepalive != 0 {
		t.Errorf("keepalive 0 should be set explicitly")
	}

	// An empty fwmark clears the mark too.
	got, err = parse(t, "fwmark=\n\n")
	if err != nil || got.FwMark == nil || *got.FwMark != 0 {
		t.Fatalf("fwmark= : %v, %v", got.FwMark, err)
	}
}

func TestParseSetReplaceAllowedIPsDropsEarlierChanges(t *testing.T) {
	_, pubHex := testKey(0x42)
	got, err := parse(t, "public_key="+pubHex+"\nallowed_ip=10.1.0.0/16\nreplace_allowed_ips=true\nallowed_ip=10.2.0.0/16\nallowed_ip=10.3.0.0/16\n\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []core.AllowedIPChange{
		{Prefix: netip.MustParsePrefix("10.2.0.0/16")},
		{Prefix: netip.MustParsePrefix("10.3.0.0/16")},
	}
	p := got.Peers[0]
	if !p.ReplaceAllowedIPs || !reflect.DeepEqual(p.AllowedIPs, want) {
		t.Fatalf("got %+v", p)
	}
}

func TestParseSetKeepsPeerOrder(t *testing.T) {
	var b strings.Builder
	var want []core.PublicKey
	for i := range 200 {
		k, h := testKey(byte(i))
		want = append(want, core.PublicKey(k))
		fmt.Fprintf(&b, "public_key=%s\nallowed_ip=10.%d.0.0/16\nallowed_ip=10.%d.1.0/24\n", h, i, i)
	}
	b.WriteString("\n")
	got, err := parse(t, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Peers) != len(want) {
		t.Fatalf("%d peers, want %d", len(got.Peers), len(want))
	}
	for i, p := range got.Peers {
		if p.PublicKey != want[i] {
			t.Fatalf("peer %d out of order", i)
		}
		if p.AllowedIPs[0].Prefix.Bits() != 16 || p.AllowedIPs[1].Prefix.Bits() != 24 {
			t.Fatalf("peer %d allowed IPs out of order: %v", i, p.AllowedIPs)
		}
	}
}

func TestParseSetUppercaseHexAndCRLF(t *testing.T) {
	k, h := testKey(0xab)
	got, err := parse(t, "public_key="+strings.ToUpper(h)+"\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if got.Peers[0].PublicKey != core.PublicKey(k) {
		t.Fatal("wrong key")
	}
}

// badSets are set bodies (after "set=1\n") that must be rejected with the
// given errno. fatal ones cannot be resynchronised and end the connection.
var badSets = []struct {
	name  string
	body  string
	errno int64
	fatal bool
}{
	{"unknown device key", "foo=bar\n\n", errnoInvalid, false},
	{"unknown peer key", "public_key=" + hexOf(0x42) + "\nlisten_port=1\n\n", errnoInvalid, false},
	{"device key after peer", "public_key=" + hexOf(0x42) + "\nprivate_key=" + hexOf(1) + "\n\n", errnoInvalid, false},
	{"peer key before peer", "endpoint=1.2.3.4:5\n\n", errnoInvalid, false},
	{"missing equals", "listen_port\n\n", errnoProto, false},
	{"short private key", "private_key=abcd\n\n", errnoInvalid, false},
	{"non-hex private key", "private_key=" + strings.Repeat("zz", 32) + "\n\n", errnoInvalid, false},
	{"base64 public key", "public_key=" + strings.Repeat("A", 43) + "=\n\n", errnoInvalid, false},
	{"bad preshared key", "public_key=" + hexOf(0x42) + "\npreshared_key=" + strings.Repeat("g", 64) + "\n\n", errnoInvalid, false},
	{"port too large", "listen_port=65536\n\n", errnoInvalid, false},
	{"negative port", "listen_port=-1\n\n", errnoInvalid, false},
	{"empty port", "listen_port=\n\n", errnoInvalid, false},
	{"fwmark too large", "fwmark=4294967296\n\n", errnoInvalid, false},
	{"replace_peers false", "replace_peers=false\n\n", errnoInvalid, false},
	{"remove yes", "public_key=" + hexOf(0x42) + "\nremove=yes\n\n", errnoInvalid, false},
	{"update_only 1", "public_key=" + hexOf(0x42) + "\nupdate_only=1\n\n", errnoInvalid, false},
	{"replace_allowed_ips TRUE", "public_key=" + hexOf(0x42) + "\nreplace_allowed_ips=TRUE\n\n", errnoInvalid, false},
	{"bad cidr", "public_key=" + hexOf(0x42) + "\nallowed_ip=10.0.0.0/33\n\n", errnoInvalid, false},
	{"cidr without length", "public_key=" + hexOf(0x42) + "\nallowed_ip=10.0.0.0\n\n", errnoInvalid, false},
	{"cidr double minus", "public_key=" + hexOf(0x42) + "\nallowed_ip=--10.0.0.0/8\n\n", errnoInvalid, false},
	{"endpoint host name", "public_key=" + hexOf(0x42) + "\nendpoint=example.com:51820\n\n", errnoInvalid, false},
	{"endpoint without port", "public_key=" + hexOf(0x42) + "\nendpoint=192.0.2.1\n\n", errnoInvalid, false},
	{"keepalive too large", "public_key=" + hexOf(0x42) + "\npersistent_keepalive_interval=65536\n\n", errnoInvalid, false},
	{"protocol_version 2", "public_key=" + hexOf(0x42) + "\nprotocol_version=2\n\n", errnoInvalid, false},
	{"device protocol_version", "protocol_version=1\n\n", errnoInvalid, false},
	{"error then good lines", "foo=bar\nlisten_port=1\n\n", errnoInvalid, false},
	{"half request", "listen_port=1\n", errnoProto, true},
	{"half line", "listen_port=1", errnoProto, true},
	{"over-long line", "listen_port=" + strings.Repeat("1", MaxLineLen) + "\n\n", errnoMsgSize, true},
	{"1 MiB of garbage", garbage(1 << 20), errnoMsgSize, true},
}

func hexOf(b byte) string { _, h := testKey(b); return h }

// garbage is deterministic binary noise without newlines.
func garbage(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
		if b[i] == '\n' {
			b[i] = 'x'
		}
	}
	return string(b)
}

func TestParseSetErrors(t *testing.T) {
	for _, tc := range badSets {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parse(t, tc.body)
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("want *Error, got %v", err)
			}
			if ue.Errno != tc.errno || ue.fatal != tc.fatal {
				t.Fatalf("errno %d fatal %v, want %d %v (%v)", ue.Errno, ue.fatal, tc.errno, tc.fatal, err)
			}
			if !reflect.DeepEqual(cfg, core.Config{}) {
				t.Fatalf("a failed parse returned a change set: %+v", cfg)
			}
		})
	}
}

// A non-fatal error must leave the reader at the start of the next request.
func TestParseSetResyncsAfterError(t *testing.T) {
	r := bufio.NewReader(strings.NewReader("foo=bar\nlisten_port=1\n\nlisten_port=2\n\n"))
	if _, err := ParseSet(r); err == nil {
		t.Fatal("want error")
	}
	cfg, err := ParseSet(r)
	if err != nil || cfg.ListenPort == nil || *cfg.ListenPort != 2 {
		t.Fatalf("second request: %+v, %v", cfg, err)
	}
}

func TestParseSetErrorsDoNotLeakSecrets(t *testing.T) {
	secret := strings.Repeat("5e", 31) + "zz" // right length, bad digit
	for _, body := range []string{
		"private_key=" + secret + "\n\n",
		"private_key=" + secret[:40] + "\n\n",
		"public_key=" + hexOf(1) + "\npreshared_key=" + secret + "\n\n",
		"private_key" + secret + "\n\n",
		"public_key=" + hexOf(1) + "\npreshared_key " + secret + "\n\n",
	} {
		_, err := parse(t, body)
		if err == nil {
			t.Fatalf("accepted %q", body)
		}
		if strings.Contains(err.Error(), secret[:16]) {
			t.Fatalf("error quotes key material: %v", err)
		}
	}
}

// repeatReader yields head, then line over and over, without holding the
// whole stream in memory.
type repeatReader struct {
	head, line []byte
	off        int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if len(r.head) > 0 {
			c := copy(b[n:], r.head)
			r.head = r.head[c:]
			n += c
			continue
		}
		c := copy(b[n:], r.line[r.off:])
		r.off = (r.off + c) % len(r.line)
		n += c
	}
	return n, nil
}

func TestParseSetSizeLimit(t *testing.T) {
	// An endless request: it must be cut off at MaxSetLen, not buffered.
	// The first line is bad so that the rest is only skimmed, which keeps
	// the test fast; the size bound applies all the same.
	r := &repeatReader{head: []byte("foo=bar\n"), line: []byte("listen_port=1\n")}
	_, err := ParseSet(bufio.NewReader(r))
	var ue *Error
	if !errors.As(err, &ue) || ue.Errno != errnoMsgSize || !ue.fatal {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkParseSet50kPeers(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("private_key=" + hexOf(1) + "\nlisten_port=51820\nreplace_peers=true\n")
	for i := range 50000 {
		var k [keyLen]byte
		k[0], k[1] = byte(i), byte(i>>8)
		fmt.Fprintf(&sb, "public_key=%x\nendpoint=192.0.2.%d:51820\nreplace_allowed_ips=true\nallowed_ip=10.%d.%d.0/24\n",
			k, i%250, i>>8&255, i&255)
	}
	sb.WriteString("\n")
	body := sb.String()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ParseSet(bufio.NewReader(strings.NewReader(body))); err != nil {
			b.Fatal(err)
		}
	}
}
