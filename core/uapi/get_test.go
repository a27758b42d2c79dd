// SPDX-License-Identifier: MIT

package uapi

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
)

func testSnapshot() core.Snapshot {
	priv, _ := testKey(0x11)
	pub1, _ := testKey(0x22)
	psk, _ := testKey(0x33)
	pub2, _ := testKey(0x44)
	return core.Snapshot{
		PrivateKey: ptr(core.PrivateKey(priv)),
		ListenPort: 51820,
		FwMark:     7,
		Peers: []core.PeerSnapshot{
			{
				PublicKey:           core.PublicKey(pub1),
				PresharedKey:        core.PresharedKey(psk),
				Endpoint:            netip.MustParseAddrPort("[2001:db8::1]:51820"),
				PersistentKeepalive: 25,
				LastHandshake:       time.Unix(1700000000, 123456789),
				TxBytes:             1000,
				RxBytes:             2000,
				AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("fd00::/64")},
				ProtocolVersion:     1,
			},
			{PublicKey: core.PublicKey(pub2)},
		},
	}
}

// The expected text is written out by hand from the protocol description,
// field by field, rather than produced by the code under test.
const goldenGet = "private_key=1111111111111111111111111111111111111111111111111111111111111111\n" +
	"listen_port=51820\n" +
	"fwmark=7\n" +
	"public_key=2222222222222222222222222222222222222222222222222222222222222222\n" +
	"preshared_key=3333333333333333333333333333333333333333333333333333333333333333\n" +
	"protocol_version=1\n" +
	"endpoint=[2001:db8::1]:51820\n" +
	"last_handshake_time_sec=1700000000\n" +
	"last_handshake_time_nsec=123456789\n" +
	"tx_bytes=1000\n" +
	"rx_bytes=2000\n" +
	"persistent_keepalive_interval=25\n" +
	"allowed_ip=10.0.0.0/24\n" +
	"allowed_ip=fd00::/64\n" +
	"public_key=4444444444444444444444444444444444444444444444444444444444444444\n" +
	"preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n" +
	"protocol_version=1\n" +
	"last_handshake_time_sec=0\n" +
	"last_handshake_time_nsec=0\n" +
	"tx_bytes=0\n" +
	"rx_bytes=0\n" +
	"persistent_keepalive_interval=0\n"

func TestWriteGetGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteGet(&b, testSnapshot()); err != nil {
		t.Fatal(err)
	}
	if b.String() != goldenGet {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), goldenGet)
	}
}

func TestWriteGetOmitsUnsetDeviceFields(t *testing.T) {
	for _, s := range []core.Snapshot{
		{},
		{PrivateKey: new(core.PrivateKey)}, // a zero key is "no key"
	} {
		var b bytes.Buffer
		if err := WriteGet(&b, s); err != nil {
			t.Fatal(err)
		}
		if b.Len() != 0 {
			t.Fatalf("want empty body, got %q", b.String())
		}
	}
}

func TestWriteGetIPv4EndpointAndOldHandshake(t *testing.T) {
	s := core.Snapshot{Peers: []core.PeerSnapshot{{
		Endpoint:      netip.MustParseAddrPort("192.0.2.1:1234"),
		LastHandshake: time.Unix(-5, 0),
	}}}
	var b bytes.Buffer
	if err := WriteGet(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "\nendpoint=192.0.2.1:1234\n") || !strings.Contains(out, "\nlast_handshake_time_sec=0\n") {
		t.Fatalf("got %q", out)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken") }

func TestWriteGetReportsWriteError(t *testing.T) {
	if err := WriteGet(failWriter{}, testSnapshot()); err == nil {
		t.Fatal("want error")
	}
}

// What WriteGet emits must parse back through the reader wg(8) uses; as a
// stand-in, check each line against the shape ipc-uapi.h accepts: key=value,
// numeric fields all digits.
func TestWriteGetLinesAreWellFormed(t *testing.T) {
	var b bytes.Buffer
	if err := WriteGet(&b, testSnapshot()); err != nil {
		t.Fatal(err)
	}
	numeric := map[string]bool{"listen_port": true, "fwmark": true, "last_handshake_time_sec": true,
		"last_handshake_time_nsec": true, "tx_bytes": true, "rx_bytes": true,
		"persistent_keepalive_interval": true, "protocol_version": true}
	for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || v == "" {
			t.Fatalf("bad line %q", line)
		}
		if numeric[k] && strings.Trim(v, "0123456789") != "" {
			t.Fatalf("non-numeric %q", line)
		}
	}
}
