// SPDX-License-Identifier: MIT

package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// Fixed keys: base64 of 32 bytes 0x01.., 0x02.., 0x03.., 0x04...
const (
	privB64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
	pub1B64 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
	pub2B64 = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="
	pskB64  = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="
)

func key(t testing.TB, s string) [KeyLen]byte {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ptr[T any](v T) *T { return &v }

func parse(t testing.TB, text string) *File {
	t.Helper()
	f, err := Parse("test.conf", strings.NewReader(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseFull(t *testing.T) {
	text := `# a wg-quick file with everything
[Interface]
PrivateKey = ` + privB64 + `
ListenPort = 51820
FwMark = 0x2a # comment after a value
Address = 10.0.0.1/24, fd00::1/64
Address = 10.0.1.1
DNS = 1.1.1.1, 2606:4700:4700::1111, example.com corp.internal
MTU = 1380
Table = off
PreUp = echo  pre  up
PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo a=b
PostUp = second
PreDown = echo down
PostDown = echo postdown
SaveConfig = true

[Peer]
PublicKey = ` + pub1B64 + `
PresharedKey = ` + pskB64 + `
AllowedIPs = 10.0.0.2/32, fd00::2/128
AllowedIPs = 192.168.0.0/16
Endpoint = vpn.example.com:51820
PersistentKeepalive = 25

[peer]
publickey=` + pub2B64 + `
allowedips = 0.0.0.0/0,::/0
endpoint = [fd00::9]:4500
persistentkeepalive = off
`
	f := parse(t, text)
	want := &File{
		Name:      "test.conf",
		quickLine: 6,
		quickKey:  "Address",
		Interface: Interface{
			PrivateKey: (*core.PrivateKey)(ptr(key(t, privB64))),
			ListenPort: ptr(uint16(51820)),
			FwMark:     ptr(uint32(42)),
			Address: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fd00::1/64"),
				netip.MustParsePrefix("10.0.1.1/32")},
			DNS:        []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2606:4700:4700::1111")},
			DNSSearch:  []string{"example.com", "corp.internal"},
			MTU:        1380,
			Table:      "off",
			PreUp:      []string{"echo  pre  up"},
			PostUp:     []string{"iptables -A FORWARD -i %i -j ACCEPT; echo a=b", "second"},
			PreDown:    []string{"echo down"},
			PostDown:   []string{"echo postdown"},
			SaveConfig: true,
		},
		Peers: []Peer{{
			PublicKey:    key(t, pub1B64),
			PresharedKey: (*core.PresharedKey)(ptr(key(t, pskB64))),
			AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("fd00::2/128"),
				netip.MustParsePrefix("192.168.0.0/16")},
			Endpoint:            "vpn.example.com:51820",
			PersistentKeepalive: ptr(uint16(25)),
			Line:                18,
			endpointLine:        23,
		}, {
			PublicKey:           key(t, pub2B64),
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
			Endpoint:            "[fd00::9]:4500",
			PersistentKeepalive: ptr(uint16(0)),
			Line:                26,
			endpointLine:        29,
		}},
	}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("Parse:\n got %#v\nwant %#v", *f, *want)
	}
	if !f.Interface.HasQuickKeys() {
		t.Error("HasQuickKeys = false")
	}
	if err := f.WGOnly(); err == nil || err.Error() != "test.conf:6: Address is a wg-quick(8) key, not a wg(8) one (wgplex up takes this file)" {
		t.Errorf("WGOnly: %v", err)
	}
}

func TestParseValues(t *testing.T) {
	iface := func(line string) *Interface {
		t.Helper()
		return &parse(t, "[Interface]\n"+line+"\n").Interface
	}
	peer := func(line string) *Peer {
		t.Helper()
		return &parse(t, "[Peer]\nPublicKey="+pub1B64+"\n"+line+"\n").Peers[0]
	}
	for _, tc := range []struct {
		line string
		want uint32
	}{{"FwMark = off", 0}, {"FwMark = OFF", 0}, {"FwMark = 0", 0}, {"FwMark = 1234", 1234},
		{"FwMark = 0xffffffff", 0xffffffff}, {"FwMark = 0x0", 0}, {"fwmark=0x1F", 31}} {
		if got := iface(tc.line).FwMark; got == nil || *got != tc.want {
			t.Errorf("%q: FwMark = %v, want %d", tc.line, got, tc.want)
		}
	}
	for _, tc := range []struct {
		line string
		want uint16
	}{{"PersistentKeepalive = off", 0}, {"PersistentKeepalive = 0", 0}, {"PersistentKeepalive = 65535", 65535}} {
		if got := peer(tc.line).PersistentKeepalive; got == nil || *got != tc.want {
			t.Errorf("%q: PersistentKeepalive = %v, want %d", tc.line, got, tc.want)
		}
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"AllowedIPs = 10.1.2.3", []string{"10.1.2.3/32"}},
		{"AllowedIPs = fd00::1", []string{"fd00::1/128"}},
		{"AllowedIPs = 10.1.2.3/8", []string{"10.1.2.3/8"}}, // host bits kept
		{"AllowedIPs = 1 0.0.0.0 / 8 , ::/0", []string{"10.0.0.0/8", "::/0"}},
		{"AllowedIPs = ::ffff:1.2.3.4/128", []string{"::ffff:1.2.3.4/128"}},
	} {
		var got []string
		for _, p := range peer(tc.line).AllowedIPs {
			got = append(got, p.String())
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: AllowedIPs = %v, want %v", tc.line, got, tc.want)
		}
	}
	for _, ep := range []string{"1.2.3.4:1", "[fd00::1]:51820", "host.example:65535", "fd00::1:51820", "[fe80::1%eth0]:1"} {
		if got := peer("Endpoint = " + ep).Endpoint; got != ep {
			t.Errorf("Endpoint %q parsed as %q", ep, got)
		}
	}
	if got := iface("Table = 1234").Table; got != "1234" {
		t.Errorf("Table = %q", got)
	}
	if got := iface("Table = my_table").Table; got != "my_table" {
		t.Errorf("Table = %q", got)
	}
	if got := iface("SaveConfig = FALSE").SaveConfig; got {
		t.Errorf("SaveConfig = %v", got)
	}
	if got := iface("MTU = ").MTU; got != 0 {
		t.Errorf("empty MTU = %d", got)
	}
	// Several [Interface] headers add to one section, as in wg(8).
	f := parse(t, "[Interface]\nListenPort=1\n[Peer]\nPublicKey="+pub1B64+"\n[Interface]\nFwMark=2\n")
	if *f.Interface.ListenPort != 1 || *f.Interface.FwMark != 2 || len(f.Peers) != 1 {
		t.Errorf("split interface section: %+v", f)
	}
	// CRLF line ends and an empty file.
	f = parse(t, "[Interface]\r\nListenPort = 7\r\n")
	if *f.Interface.ListenPort != 7 {
		t.Errorf("CRLF: %+v", f.Interface)
	}
	f = parse(t, "")
	if f.Interface.ListenPort != nil || len(f.Peers) != 0 {
		t.Errorf("empty file: %+v", f)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown key", "[Interface]\nListenPort = 1\nBogus = 1\n", "test.conf:3: unknown key \"Bogus\" in [Interface]"},
		{"unknown peer key", "[Peer]\nPublicKey = " + pub1B64 + "\nAddress = 10.0.0.1/32\n", "test.conf:3: unknown key \"Address\" in [Peer]"},
		{"bad base64 public", "[Peer]\nPublicKey = AAAA\n", "test.conf:2: PublicKey: key is not the correct length"},
		{"bad base64 private", "[Interface]\nPrivateKey = " + privB64[:43] + "!\n", "test.conf:2: PrivateKey: key is not the correct length"},
		{"non-canonical base64", "[Peer]\nPublicKey = " + pub1B64[:42] + "J=\n", "test.conf:2: PublicKey: key"},
		{"bad psk", "[Peer]\nPublicKey = " + pub1B64 + "\nPresharedKey = x\n", "test.conf:3: PresharedKey: key"},
		{"bad cidr", "[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs = 10.0.0.0/33\n", "test.conf:3: AllowedIPs: allowed IP \"10.0.0.0/33\": prefix length"},
		{"bad ip", "[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs = 10.0.0/8\n", "test.conf:3: AllowedIPs: allowed IP \"10.0.0/8\": not an IP address"},
		{"empty allowed ip entry", "[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs = 10.0.0.0/8,,\n", "test.conf:3: AllowedIPs: allowed IP \"\""},
		{"zone in allowed ip", "[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs = fe80::1%eth0/128\n", "test.conf:3: AllowedIPs"},
		{"bad port", "[Interface]\nListenPort = 65536\n", "test.conf:2: ListenPort: port \"65536\""},
		{"negative port", "[Interface]\nListenPort = -1\n", "test.conf:2: ListenPort"},
		{"bad fwmark", "[Interface]\nFwMark = 0x100000000\n", "test.conf:2: FwMark"},
		{"bad keepalive", "[Peer]\nPublicKey = " + pub1B64 + "\nPersistentKeepalive = 65536\n", "test.conf:3: PersistentKeepalive"},
		{"endpoint without port", "[Peer]\nPublicKey = " + pub1B64 + "\nEndpoint = 1.2.3.4\n", "test.conf:3: Endpoint: endpoint \"1.2.3.4\" has no port"},
		{"endpoint bad port", "[Peer]\nPublicKey = " + pub1B64 + "\nEndpoint = 1.2.3.4:x\n", "test.conf:3: Endpoint"},
		{"endpoint no brace", "[Peer]\nPublicKey = " + pub1B64 + "\nEndpoint = [fd00::1:5\n", "test.conf:3: Endpoint: endpoint \"[fd00::1:5\" has no matching ']'"},
		{"duplicate peer", "[Peer]\nPublicKey = " + pub1B64 + "\n\n[Peer]\nPublicKey = " + pub1B64 + "\n", "test.conf:5: duplicate peer " + pub1B64 + " (first on line 2)"},
		{"two keys one peer", "[Peer]\nPublicKey = " + pub1B64 + "\nPublicKey = " + pub2B64 + "\n", "test.conf:3: second PublicKey"},
		{"peer without key", "[Interface]\n\n[Peer]\nAllowedIPs = 10.0.0.0/8\n", "test.conf:3: [Peer] section has no PublicKey"},
		{"key outside section", "ListenPort = 1\n", "test.conf:1: key \"ListenPort\" outside an [Interface] or [Peer] section"},
		{"unknown section", "[Interface]\n[Peers]\n", "test.conf:2: unknown section \"[Peers]\""},
		{"no equals", "[Interface]\nListenPort\n", "test.conf:2: line is neither"},
		{"empty value", "[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs =\n", "test.conf:3: AllowedIPs has no value"},
		{"empty private key", "[Interface]\nPrivateKey =\n", "test.conf:2: PrivateKey has no value"},
		{"bad address", "[Interface]\nAddress = 10.0.0.1/24, nonsense\n", "test.conf:2: Address \"nonsense\""},
		{"bad dns", "[Interface]\nDNS = 1.2.3\n", "test.conf:2: DNS \"1.2.3\" is not an IP address"},
		{"bad mtu", "[Interface]\nMTU = 9x\n", "test.conf:2: MTU"},
		{"bad table", "[Interface]\nTable = a b\n", "test.conf:2: Table"},
		{"bad saveconfig", "[Interface]\nSaveConfig = yes\n", "test.conf:2: SaveConfig \"yes\" is neither true nor false"},
		{"quick key in peer", "[Peer]\nPublicKey = " + pub1B64 + "\nDNS = 1.1.1.1\n", "test.conf:3: unknown key \"DNS\" in [Peer]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.conf", strings.NewReader(tc.text))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *Error", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q\n  want prefix %q", err, tc.want)
			}
		})
	}
}

// TestErrorsHideSecrets: a bad private or pre-shared key value never
// appears in the message, even when it is close to a real key.
func TestErrorsHideSecrets(t *testing.T) {
	secret := "SECRETSECRETSECRETSECRETSECRETSECRETSECRET!="
	for _, text := range []string{
		"[Interface]\nPrivateKey = " + secret + "\n",
		"[Peer]\nPublicKey = " + pub1B64 + "\nPresharedKey = " + secret + "\n",
		"[Interface]\nPrivateKey = " + secret + " trailing\n",
		"PrivateKey = " + secret + "\n",
		"[Interface]\nPrivateKey " + secret + "\n",
		"[Peer]\nPresharedKey " + secret + "\n",
	} {
		_, err := Parse("x", strings.NewReader(text))
		if err == nil {
			t.Fatalf("no error for %q", text)
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, text := range []string{
		"",
		"[Interface]\n",
		"[Interface]\nPrivateKey=" + privB64 + "\n",
		"[Interface]\nListenPort = 0\nFwMark = off\n[Peer]\nPublicKey = " + pub1B64 + "\nPersistentKeepalive = off\n",
		"[Interface]\nAddress = 10.0.0.1\nDNS = 9.9.9.9, ::1, a.b\nTable = auto\nPostUp = a  b  c\nSaveConfig = true\nMTU=1280\n",
		"[Peer]\nPublicKey = " + pub1B64 + "\nAllowedIPs = ::1.2.3.4/128, ::ffff:1.2.3.4/128, 0.0.0.0/0\nEndpoint = [::1.2.3.4]:1\n[Peer]\nPublicKey = " + pub2B64 + "\nPresharedKey = " + pskB64 + "\n",
	} {
		f1 := parse(t, text)
		out1 := f1.String()
		f2 := parse(t, out1)
		out2 := f2.String()
		if out1 != out2 {
			t.Errorf("format not stable for %q:\n%s\n---\n%s", text, out1, out2)
		}
		stripLines(f1)
		stripLines(f2)
		if !reflect.DeepEqual(f1, f2) {
			t.Errorf("parse(format(parse(x))) != parse(x) for %q:\n%+v\n%+v", text, f1, f2)
		}
	}
}

// stripLines clears what records where things were in the source text: line
// numbers and which wg-quick key came first. A key that sets nothing (an
// empty Address, SaveConfig = false) is not written back, so the formatted
// file may name a different first wg-quick key, or none.
func stripLines(f *File) {
	f.quickLine, f.quickKey = 0, ""
	for i := range f.Peers {
		f.Peers[i].Line, f.Peers[i].endpointLine = 0, 0
	}
}

// TestFormatShowconf checks the exact layout wg showconf prints.
func TestFormatShowconf(t *testing.T) {
	s := core.Snapshot{
		PrivateKey: (*core.PrivateKey)(ptr(key(t, privB64))),
		ListenPort: 51820,
		FwMark:     0x2a,
		Peers: []core.PeerSnapshot{{
			PublicKey:           key(t, pub1B64),
			PresharedKey:        key(t, pskB64),
			Endpoint:            netip.MustParseAddrPort("[fd00::9]:4500"),
			PersistentKeepalive: 25,
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1.2.3.4/128")},
		}, {
			PublicKey: key(t, pub2B64),
		}},
	}
	want := "[Interface]\nListenPort = 51820\nFwMark = 0x2a\nPrivateKey = " + privB64 + "\n\n" +
		"[Peer]\nPublicKey = " + pub1B64 + "\nPresharedKey = " + pskB64 + "\nAllowedIPs = 10.0.0.0/8, ::1.2.3.4/128\nEndpoint = [fd00::9]:4500\nPersistentKeepalive = 25\n\n" +
		"[Peer]\nPublicKey = " + pub2B64 + "\n"
	if got := FromSnapshot(s).String(); got != want {
		t.Errorf("showconf:\n%s\nwant:\n%s", got, want)
	}
	if got := FromSnapshot(core.Snapshot{}).String(); got != "[Interface]\n\n" {
		t.Errorf("empty showconf %q", got)
	}
}

func TestFormatAddr(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3.4":              "1.2.3.4",
		"::":                   "::",
		"::1":                  "::1",
		"::2":                  "::2",
		"::1.2.3.4":            "::1.2.3.4",
		"::0.0.1.0":            "::100",
		"::ffff:1.2.3.4":       "::ffff:1.2.3.4",
		"fd00::1":              "fd00::1",
		"1::":                  "1::",
		"0:0:1::":              "0:0:1::",
		"fe80::1%eth0":         "fe80::1%eth0",
		"::1:0:0:0":            "::1:0:0:0",
		"2001:db8:0:0:1:0:0:1": "2001:db8::1:0:0:1",
	} {
		if got := FormatAddr(netip.MustParseAddr(in)); got != want {
			t.Errorf("FormatAddr(%s) = %s, want %s", in, got, want)
		}
	}
	if got := FormatAddrPort(netip.MustParseAddrPort("[::ffff:1.2.3.4]:5")); got != "[::ffff:1.2.3.4]:5" {
		t.Errorf("FormatAddrPort mapped = %s", got)
	}
}

func TestConvert(t *testing.T) {
	f := parse(t, "[Interface]\nListenPort = 1234\n\n[Peer]\nPublicKey = "+pub1B64+
		"\nAllowedIPs = 10.0.0.0/8\nEndpoint = host.test:99\n\n[Peer]\nPublicKey = "+pub2B64+"\nPersistentKeepalive = 5\n")
	resolve := func(ep string) (netip.AddrPort, error) {
		if ep == "host.test:99" {
			return netip.MustParseAddrPort("192.0.2.1:99"), nil
		}
		return netip.AddrPort{}, errors.New("no such host")
	}
	set, err := f.SetConf(resolve)
	if err != nil {
		t.Fatal(err)
	}
	if !set.ReplacePeers || set.PrivateKey == nil || !set.PrivateKey.IsZero() || *set.ListenPort != 1234 || *set.FwMark != 0 {
		t.Errorf("SetConf interface part: %+v", set)
	}
	if len(set.Peers) != 2 || !set.Peers[0].ReplaceAllowedIPs || !set.Peers[1].ReplaceAllowedIPs ||
		*set.Peers[0].Endpoint != netip.MustParseAddrPort("192.0.2.1:99") || len(set.Peers[0].AllowedIPs) != 1 ||
		set.Peers[0].PresharedKey != nil || set.Peers[0].PersistentKeepalive != nil || *set.Peers[1].PersistentKeepalive != 5 {
		t.Errorf("SetConf peers: %+v", set.Peers)
	}
	add, err := f.AddConf(resolve)
	if err != nil {
		t.Fatal(err)
	}
	if add.ReplacePeers || add.PrivateKey != nil || add.FwMark != nil || *add.ListenPort != 1234 {
		t.Errorf("AddConf: %+v", add)
	}

	// syncconf against a running interface with peer 1 (psk, keepalive)
	// and a third peer that is not in the file.
	third := key(t, pskB64)
	cur := core.Snapshot{Peers: []core.PeerSnapshot{
		{PublicKey: third},
		{PublicKey: key(t, pub1B64), PresharedKey: key(t, pskB64), PersistentKeepalive: 10},
	}}
	sync, err := f.SyncConf(cur, resolve)
	if err != nil {
		t.Fatal(err)
	}
	if sync.ReplacePeers || len(sync.Peers) != 3 {
		t.Fatalf("SyncConf: %+v", sync)
	}
	if rm := sync.Peers[0]; !rm.Remove || rm.PublicKey != third {
		t.Errorf("SyncConf removal: %+v", rm)
	}
	p1 := sync.Peers[1]
	if p1.PresharedKey == nil || !p1.PresharedKey.IsZero() || p1.PersistentKeepalive == nil || *p1.PersistentKeepalive != 0 {
		t.Errorf("SyncConf did not clear psk/keepalive: %+v", p1)
	}
	// With no peers running, syncconf is setconf.
	if s, _ := f.SyncConf(core.Snapshot{}, resolve); !s.ReplacePeers {
		t.Error("SyncConf on an empty interface does not replace")
	}

	bad := parse(t, "[Peer]\nPublicKey = "+pub1B64+"\n# x\nEndpoint = nowhere.test:1\n")
	_, err = bad.SetConf(resolve)
	if !errors.Is(err, ErrUnresolved) || !strings.HasPrefix(err.Error(), "test.conf:4: cannot resolve endpoint") {
		t.Errorf("unresolvable endpoint: %v", err)
	}
}

func TestReadKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		zero bool
	}{
		{privB64, true, false},
		{privB64 + "\n", true, false},
		{privB64 + " \n\t\n", true, false},
		{"", true, true},
		{privB64[:40], false, false},
		{privB64 + "x", false, false},
		{strings.Repeat("A", 44), false, false},
	} {
		k, err := ReadKey(strings.NewReader(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("ReadKey(%q): err = %v", tc.in, err)
			continue
		}
		if err == nil && (k == [KeyLen]byte{}) != tc.zero {
			t.Errorf("ReadKey(%q): zero = %v", tc.in, k == [KeyLen]byte{})
		}
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wg0.conf")
	f := parse(t, "[Interface]\nPrivateKey = "+privB64+"\n")
	if err := WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	g, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if *g.Interface.PrivateKey != *f.Interface.PrivateKey {
		t.Error("key lost in WriteFile")
	}
}
