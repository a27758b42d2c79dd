// SPDX-License-Identifier: MIT

package main

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/core/config"
)

func testKey(b byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b
	}
	return k
}

func TestPrettyTimeAndBytes(t *testing.T) {
	plain := painter{}
	for secs, want := range map[uint64]string{
		1:                          "1 second",
		59:                         "59 seconds",
		60:                         "1 minute",
		62:                         "1 minute, 2 seconds",
		3600:                       "1 hour",
		86400 + 3*3600 + 1:         "1 day, 3 hours, 1 second",
		365*86400 + 2*86400 + 3*60: "1 year, 2 days, 3 minutes",
		2*365*86400 + 1:            "2 years, 1 second",
	} {
		if got := prettyTime(plain, secs); got != want {
			t.Errorf("prettyTime(%d) = %q, want %q", secs, got, want)
		}
	}
	if got := prettyTime(painter{color: true}, 61); got != "1 \x1b[36mminute\x1b[0m, 1 \x1b[36msecond\x1b[0m" {
		t.Errorf("colored prettyTime = %q", got)
	}
	if got := ago(plain, 100, 100); got != "Now" {
		t.Errorf("ago same second = %q", got)
	}
	if got := ago(plain, 101, 100); got != "(System clock wound backward; connection problems may ensue.)" {
		t.Errorf("ago future = %q", got)
	}
	if got := ago(plain, 100, 162); got != "1 minute, 2 seconds ago" {
		t.Errorf("ago = %q", got)
	}
	for b, want := range map[uint64]string{
		0:               "0 B",
		1023:            "1023 B",
		1024:            "1.00 KiB",
		1260:            "1.23 KiB",
		4669:            "4.56 KiB",
		5 << 20:         "5.00 MiB",
		3 << 30:         "3.00 GiB",
		1536 << 30:      "1.50 TiB",
		(1 << 50) * 100: "102400.00 TiB",
	} {
		if got := bytesString(plain, b); got != want {
			t.Errorf("bytesString(%d) = %q, want %q", b, got, want)
		}
	}
}

func TestStripEscapes(t *testing.T) {
	in := termReset + termGreen + termBold + "interface" + termReset + ": x\n"
	if got := stripEscapes(in); got != "interface: x\n" {
		t.Errorf("stripEscapes = %q", got)
	}
}

func TestSortPeers(t *testing.T) {
	mk := func(id byte, sec int64) *core.PeerSnapshot {
		p := &core.PeerSnapshot{PublicKey: testKey(id)}
		if sec != 0 {
			p.LastHandshake = time.Unix(sec, 0)
		}
		return p
	}
	peers := []*core.PeerSnapshot{mk(1, 0), mk(2, 100), mk(3, 0), mk(4, 300), mk(5, 200)}
	sortPeers(peers)
	var got []byte
	for _, p := range peers {
		got = append(got, p.PublicKey[0])
	}
	if string(got) != "\x04\x05\x02\x01\x03" {
		t.Errorf("order %v, want 4 5 2 1 3 (recent first, never last, stable)", got)
	}
}

func testSnapshot() core.Snapshot {
	priv := core.PrivateKey(testKey(1))
	return core.Snapshot{
		PrivateKey: &priv,
		PublicKey:  priv.PublicKey(),
		ListenPort: 51820,
		FwMark:     0x2a,
		Peers: []core.PeerSnapshot{{
			PublicKey:  testKey(2),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		}, {
			PublicKey:           testKey(3),
			PresharedKey:        testKey(4),
			Endpoint:            netip.MustParseAddrPort("[fd00::1]:51820"),
			PersistentKeepalive: 25,
			LastHandshake:       time.Unix(1000, 5),
			RxBytes:             1260,
			TxBytes:             100,
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("::1.2.3.4/128"), netip.MustParsePrefix("192.168.0.0/16")},
		}},
	}
}

// TestPrettyPrint pins the default output against text written out from
// wg's format by hand.
func TestPrettyPrint(t *testing.T) {
	s := testSnapshot()
	k := func(b byte) string { return config.FormatKey(testKey(b)) }
	want := "interface: wg0\n" +
		"  public key: " + config.FormatKey(s.PublicKey) + "\n" +
		"  private key: (hidden)\n" +
		"  listening port: 51820\n" +
		"  fwmark: 0x2a\n" +
		"\n" +
		"peer: " + k(3) + "\n" +
		"  preshared key: (hidden)\n" +
		"  endpoint: [fd00::1]:51820\n" +
		"  allowed ips: ::1.2.3.4/128, 192.168.0.0/16\n" +
		"  latest handshake: 1 minute, 2 seconds ago\n" +
		"  transfer: 1.23 KiB received, 100 B sent\n" +
		"  persistent keepalive: every 25 seconds\n" +
		"\n" +
		"peer: " + k(2) + "\n" +
		"  allowed ips: 10.0.0.0/8\n"
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	prettyPrint(w, "wg0", s, false, time.Unix(1062, 0))
	w.Flush()
	if b.String() != want {
		t.Errorf("pretty:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	prettyPrint(w, "wg0", s, true, time.Unix(1062, 0))
	w.Flush()
	if !strings.HasPrefix(b.String(), "\x1b[0m\x1b[32m\x1b[1minterface\x1b[0m: \x1b[32mwg0\x1b[0m\n") {
		t.Errorf("colored pretty starts %q", b.String()[:40])
	}
	if stripEscapes(b.String()) != want {
		t.Error("colored output differs from plain beyond escapes")
	}
}

func TestShowFields(t *testing.T) {
	s := testSnapshot()
	k := func(b byte) string { return config.FormatKey(testKey(b)) }
	priv := config.FormatKey(*s.PrivateKey)
	pub := config.FormatKey(s.PublicKey)
	for field, want := range map[string]string{
		"public-key":           pub + "\n",
		"private-key":          priv + "\n",
		"listen-port":          "51820\n",
		"fwmark":               "0x2a\n",
		"peers":                k(2) + "\n" + k(3) + "\n",
		"preshared-keys":       k(2) + "\t(none)\n" + k(3) + "\t" + k(4) + "\n",
		"endpoints":            k(2) + "\t(none)\n" + k(3) + "\t[fd00::1]:51820\n",
		"allowed-ips":          k(2) + "\t10.0.0.0/8\n" + k(3) + "\t::1.2.3.4/128 192.168.0.0/16\n",
		"latest-handshakes":    k(2) + "\t0\n" + k(3) + "\t1000\n",
		"transfer":             k(2) + "\t0\t0\n" + k(3) + "\t1260\t100\n",
		"persistent-keepalive": k(2) + "\toff\n" + k(3) + "\t25\n",
		"dump": priv + "\t" + pub + "\t51820\t0x2a\n" +
			k(2) + "\t(none)\t(none)\t10.0.0.0/8\t0\t0\t0\toff\n" +
			k(3) + "\t" + k(4) + "\t[fd00::1]:51820\t::1.2.3.4/128,192.168.0.0/16\t1000\t1260\t100\t25\n",
	} {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if !showField(w, &b, "wg0", s, field, false) {
			t.Fatalf("%s rejected", field)
		}
		w.Flush()
		if b.String() != want {
			t.Errorf("%s:\n%q\nwant\n%q", field, b.String(), want)
		}
	}
	// With the interface name (show all), and without a private key.
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	showField(w, &b, "wg0", core.Snapshot{}, "dump", true)
	w.Flush()
	if b.String() != "wg0\t(none)\t(none)\t0\toff\n" {
		t.Errorf("empty dump with interface: %q", b.String())
	}
	var errb bytes.Buffer
	if showField(w, &errb, "wg0", s, "nope", false) || !strings.HasPrefix(errb.String(), "Invalid parameter: `nope'\nUsage: wgplex show") {
		t.Errorf("bad field: %q", errb.String())
	}
}

func TestParseSetArgs(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(config.FormatKey(testKey(7))+"\n"), 0o600)
	resolve := func(string) (netip.AddrPort, error) { return netip.MustParseAddrPort("192.0.2.1:5"), nil }
	peer := config.FormatKey(testKey(9))
	cfg, err := parseSetArgs([]string{"listen-port", "1", "fwmark", "0x10", "private-key", keyFile,
		"peer", peer, "preshared-key", os.DevNull, "endpoint", "x:5", "persistent-keepalive", "off",
		"allowed-ips", " 10.0.0.0/8 , fd00::/8", "peer", peer, "remove"}, resolve)
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.ListenPort != 1 || *cfg.FwMark != 16 || *cfg.PrivateKey != core.PrivateKey(testKey(7)) || len(cfg.Peers) != 2 {
		t.Fatalf("device part: %+v", cfg)
	}
	p := cfg.Peers[0]
	if !p.PresharedKey.IsZero() || *p.Endpoint != netip.MustParseAddrPort("192.0.2.1:5") || *p.PersistentKeepalive != 0 ||
		!p.ReplaceAllowedIPs || len(p.AllowedIPs) != 2 || !cfg.Peers[1].Remove {
		t.Errorf("peers: %+v", cfg.Peers)
	}
	for _, bad := range [][]string{
		{"bogus"},
		{"listen-port"},
		{"peer", peer, "listen-port", "1"}, // device option after a peer
		{"remove"},                         // remove without a peer
		{"peer", "notakey"},
		{"peer", peer, "allowed-ips", "10.0.0.0/33"},
		{"fwmark", "0xfffffffff"},
		{"private-key", filepath.Join(dir, "missing")},
	} {
		if _, err := parseSetArgs(bad, resolve); err == nil {
			t.Errorf("parseSetArgs(%q) succeeded", bad)
		}
	}
}

func TestPubKeyCommand(t *testing.T) {
	priv := config.FormatKey(testKey(1))
	var out, errb bytes.Buffer
	if code := runPubKey(nil, strings.NewReader(priv+"\n\x00 "), &out, &errb); code != 0 {
		t.Fatalf("pubkey: %d %s", code, errb.String())
	}
	want := config.FormatKey(core.PrivateKey(testKey(1)).PublicKey()) + "\n"
	if out.String() != want {
		t.Errorf("pubkey = %q, want %q", out.String(), want)
	}
	out.Reset()
	if code := runPubKey(nil, strings.NewReader(priv+"x"), &out, &errb); code != 1 || out.Len() != 0 {
		t.Errorf("trailing garbage accepted")
	}
	var gk bytes.Buffer
	if code := runGenKey("genkey", nil, &gk, &errb); code != 0 || len(gk.String()) != 45 {
		t.Fatalf("genkey: %q", gk.String())
	}
	k, err := config.ParseKey(strings.TrimSpace(gk.String()))
	if err != nil || k[0]&7 != 0 || k[31]&0xc0 != 0x40 {
		t.Errorf("genkey output is not a clamped key: %v", err)
	}
}
