// SPDX-License-Identifier: MIT

package fleet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// epoch is the fixed "now" of these tests.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// seededKey is a deterministic Ed25519 key, so that test objects and the
// seed corpora do not change from run to run.
func seededKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// fixture is a CA, one node with its certificate, and a signed record.
type fixture struct {
	caKey   ed25519.PrivateKey
	ca      *CA
	roots   *Roots
	nodeKey ed25519.PrivateKey
	cert    *Certificate
	rec     *Record
	recRaw  []byte
}

func newCert(t testing.TB, caKey, nodeKey ed25519.PrivateKey, wg byte, mod func(*Certificate)) *Certificate {
	t.Helper()
	c := &Certificate{
		Serial:       7,
		NotBefore:    epoch.Add(-time.Hour),
		NotAfter:     epoch.Add(24 * time.Hour),
		SigningKey:   nodeKey.Public().(ed25519.PublicKey),
		Name:         "node-a",
		Prefixes:     []netip.Prefix{netip.MustParsePrefix("10.60.1.0/24"), netip.MustParsePrefix("fd00:60::/64")},
		EndpointNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}
	c.PublicKey[0] = wg
	c.PublicKey[31] = 1
	if mod != nil {
		mod(c)
	}
	raw, err := c.Sign(caKey)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c2
}

func newRecord(t testing.TB, cert *Certificate, key ed25519.PrivateKey, seq uint64, mod func(*Record)) []byte {
	t.Helper()
	r := &Record{
		Cert:                cert,
		PublicKey:           cert.PublicKey,
		Sequence:            seq,
		Timestamp:           epoch,
		PersistentKeepalive: 25,
		PSKRef:              "fleet-a",
		Endpoints:           []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:51820")},
		Prefixes:            []netip.Prefix{netip.MustParsePrefix("10.60.1.1/32"), netip.MustParsePrefix("fd00:60::1/128")},
	}
	if mod != nil {
		mod(r)
	}
	raw, err := r.Sign(key)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{caKey: seededKey(1), nodeKey: seededKey(2)}
	f.ca = &CA{Name: "test-ca", Key: f.caKey.Public().(ed25519.PublicKey)}
	var err error
	if f.roots, err = NewRoots(f.ca); err != nil {
		t.Fatal(err)
	}
	f.cert = newCert(t, f.caKey, f.nodeKey, 0xaa, nil)
	f.recRaw = newRecord(t, f.cert, f.nodeKey, 100, nil)
	if f.rec, err = ParseRecord(f.recRaw); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	caRaw, err := f.ca.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := ParseCA(caRaw)
	if err != nil || ca2.Name != f.ca.Name || !ca2.Key.Equal(f.ca.Key) {
		t.Fatalf("CA round trip: %v %+v", err, ca2)
	}
	certRaw, _ := f.cert.Marshal()
	c2, err := ParseCertificate(certRaw)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Name != "node-a" || c2.Serial != 7 || !c2.NotAfter.Equal(epoch.Add(24*time.Hour)) ||
		len(c2.Prefixes) != 2 || c2.Prefixes[1] != netip.MustParsePrefix("fd00:60::/64") ||
		len(c2.EndpointNets) != 1 || c2.Issuer != f.ca.ID() {
		t.Fatalf("certificate round trip: %+v", c2)
	}
	r := f.rec
	if r.Sequence != 100 || !r.Timestamp.Equal(epoch) || r.PersistentKeepalive != 25 || r.PSKRef != "fleet-a" ||
		len(r.Endpoints) != 1 || r.Endpoints[0] != netip.MustParseAddrPort("192.0.2.1:51820") ||
		len(r.Prefixes) != 2 || r.PublicKey != f.cert.PublicKey {
		t.Fatalf("record round trip: %+v", r)
	}
	again, _ := r.Marshal()
	if !bytes.Equal(again, f.recRaw) {
		t.Fatal("Marshal of a parsed record differs from its input")
	}
}

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t)
	rec, v := Verify(f.recRaw, f.roots, nil, epoch, 99)
	if !v.OK() || rec == nil || rec.Sequence != 100 {
		t.Fatalf("valid record refused: %v", v)
	}
}

// TestVerifyRefuses makes one record per reason and checks that Verify
// names exactly that reason.
func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	otherCA := seededKey(3)
	otherNode := seededKey(4)
	rl := &RevocationList{Issued: epoch, Serials: []uint64{7}}
	if _, err := rl.Sign(f.caKey); err != nil {
		t.Fatal(err)
	}
	revoked, err := NewRevocations(f.roots, rl)
	if err != nil {
		t.Fatal(err)
	}
	tamperedCert := func() []byte {
		c := newCert(t, f.caKey, f.nodeKey, 0xaa, nil)
		c.raw[len(c.raw)-ed25519.SignatureSize-2] ^= 1 // inside an endpoint network's bytes
		c2, err := ParseCertificate(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		return newRecord(t, c2, f.nodeKey, 100, nil)
	}
	cases := []struct {
		name    string
		data    []byte
		revoked *Revocations
		now     time.Time
		last    uint64
		want    Reason
	}{
		{"garbage", []byte("WGFR\x01junk"), nil, epoch, 0, Malformed},
		{"unsigned-bytes", f.recRaw[:len(f.recRaw)-1], nil, epoch, 0, Malformed},
		{"other-ca", newRecord(t, newCert(t, otherCA, f.nodeKey, 0xaa, nil), f.nodeKey, 100, nil), nil, epoch, 0, UnknownCA},
		{"forged-cert", tamperedCert(), nil, epoch, 0, BadCASignature},
		{"not-yet-valid", f.recRaw, nil, epoch.Add(-2 * time.Hour), 0, NotYetValid},
		{"expired", f.recRaw, nil, epoch.Add(25 * time.Hour), 0, Expired},
		{"revoked", f.recRaw, revoked, epoch, 0, Revoked},
		{"cert-of-another-key", newRecord(t, f.cert, f.nodeKey, 100, func(r *Record) { r.PublicKey[5] = 9 }), nil, epoch, 0, KeyMismatch},
		{"prefix-outside", newRecord(t, f.cert, f.nodeKey, 100, func(r *Record) {
			r.Prefixes = append(r.Prefixes, netip.MustParsePrefix("10.60.0.0/16"))
		}), nil, epoch, 0, PrefixOutsideCert},
		{"endpoint-outside", newRecord(t, f.cert, f.nodeKey, 100, func(r *Record) {
			r.Endpoints = append(r.Endpoints, netip.MustParseAddrPort("198.51.100.1:1"))
		}), nil, epoch, 0, EndpointOutside},
		{"replayed", f.recRaw, nil, epoch, 100, StaleSequence},
		{"older", f.recRaw, nil, epoch, 101, StaleSequence},
	}
	// A record signed by a key that is not the certificate's: Sign refuses
	// to make one, so sign the bytes by hand.
	forged := bytes.Clone(f.recRaw[:len(f.recRaw)-ed25519.SignatureSize])
	forged = append(forged, ed25519.Sign(otherNode, forged)...)
	cases = append(cases, struct {
		name    string
		data    []byte
		revoked *Revocations
		now     time.Time
		last    uint64
		want    Reason
	}{"wrong-signer", forged, nil, epoch, 0, BadSignature})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, v := Verify(tc.data, f.roots, tc.revoked, tc.now, tc.last)
			if v.Reason != tc.want || rec != nil {
				t.Fatalf("verdict %v, want %v", v, tc.want)
			}
			if v.Detail == "" || v.Error() == "" {
				t.Fatal("refusal without detail")
			}
		})
	}
}

// TestRotation: records under an old and a new CA verify side by side.
func TestRotation(t *testing.T) {
	f := newFixture(t)
	newCAKey := seededKey(5)
	newCA := &CA{Name: "new", Key: newCAKey.Public().(ed25519.PublicKey)}
	roots, err := NewRoots(f.ca, newCA)
	if err != nil {
		t.Fatal(err)
	}
	recNew := newRecord(t, newCert(t, newCAKey, f.nodeKey, 0xbb, nil), f.nodeKey, 1, nil)
	for _, data := range [][]byte{f.recRaw, recNew} {
		if _, v := Verify(data, roots, nil, epoch, 0); !v.OK() {
			t.Fatalf("refused under two roots: %v", v)
		}
	}
	// Revoking serial 7 of the new CA leaves the old CA's serial 7 alone.
	rl := &RevocationList{Issued: epoch, Serials: []uint64{7}}
	rl.Sign(newCAKey)
	rv, err := NewRevocations(roots, rl)
	if err != nil {
		t.Fatal(err)
	}
	if _, v := Verify(f.recRaw, roots, rv, epoch, 0); !v.OK() {
		t.Fatalf("old CA's serial revoked by the new CA's list: %v", v)
	}
	if _, v := Verify(recNew, roots, rv, epoch, 0); v.Reason != Revoked {
		t.Fatalf("new CA's revoked serial: %v", v)
	}
}

func TestRevocationList(t *testing.T) {
	f := newFixture(t)
	rl := &RevocationList{Issued: epoch, Serials: []uint64{9, 3, 9, 1}}
	raw, err := rl.Sign(f.caKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseRevocationList(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Serials) != 3 || !l.Revoked(3) || l.Revoked(2) || !l.Issued.Equal(epoch) {
		t.Fatalf("list: %+v", l)
	}
	if err := l.CheckSignature(f.ca); err != nil {
		t.Fatal(err)
	}
	other := &CA{Name: "o", Key: seededKey(6).Public().(ed25519.PublicKey)}
	if err := l.CheckSignature(other); err == nil {
		t.Fatal("list accepted for another CA")
	}
	raw[len(raw)-1] ^= 1
	l, _ = ParseRevocationList(raw)
	if err := l.CheckSignature(f.ca); err == nil {
		t.Fatal("tampered list accepted")
	}
	if _, err := NewRevocations(f.roots, l); err == nil {
		t.Fatal("NewRevocations took a tampered list")
	}
	roots, _ := NewRoots(other)
	l2, _ := ParseRevocationList(mustSign(t, &RevocationList{Issued: epoch}, f.caKey))
	if _, err := NewRevocations(roots, l2); err == nil {
		t.Fatal("NewRevocations took a list of an untrusted CA")
	}
}

func mustSign(t *testing.T, l *RevocationList, k ed25519.PrivateKey) []byte {
	raw, err := l.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestSignRefuses(t *testing.T) {
	f := newFixture(t)
	r := &Record{Cert: f.cert, PublicKey: f.cert.PublicKey}
	if _, err := r.Sign(seededKey(9)); err == nil {
		t.Fatal("record signed with a key the certificate does not name")
	}
	c := &Certificate{SigningKey: f.nodeKey.Public().(ed25519.PublicKey), Name: "bad\nname"}
	if _, err := c.Sign(f.caKey); err == nil {
		t.Fatal("certificate with a control character in its name signed")
	}
	c = &Certificate{SigningKey: f.nodeKey.Public().(ed25519.PublicKey), NotBefore: epoch, NotAfter: epoch.Add(-time.Second)}
	if _, err := c.Sign(f.caKey); err == nil {
		t.Fatal("certificate ending before it starts signed")
	}
}

func TestDecodeStrict(t *testing.T) {
	f := newFixture(t)
	certRaw, _ := f.cert.Marshal()
	for name, data := range map[string][]byte{
		"trailing":      append(bytes.Clone(certRaw), 0),
		"version":       append([]byte("WGFC\x02"), certRaw[5:]...),
		"magic":         append([]byte("WGFR"), certRaw[4:]...),
		"empty":         nil,
		"header-only":   []byte("WGFC\x01"),
		"unmasked-bits": unmasked(t, f),
	} {
		if _, err := ParseCertificate(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want a malformed error", name, err)
		}
	}
}

// unmasked is a certificate whose first prefix has a host bit set.
func unmasked(t *testing.T, f *fixture) []byte {
	c := newCert(t, f.caKey, f.nodeKey, 1, func(c *Certificate) {
		c.Prefixes = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/7")}
		c.EndpointNets = nil
	})
	raw, _ := c.Marshal()
	i := bytes.Index(raw, []byte{4, 7, 10})
	if i < 0 {
		t.Fatal("prefix not found in the encoding")
	}
	raw[i+2] = 11
	return raw
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	k := seededKey(8)
	p := filepath.Join(dir, "ca.key")
	if err := WritePrivateKeyFile(p, k); err != nil {
		t.Fatal(err)
	}
	if err := WritePrivateKeyFile(p, k); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode())
	}
	k2, err := ReadPrivateKeyFile(p)
	if err != nil || !k2.Equal(k) {
		t.Fatalf("read back: %v", err)
	}
	os.Chmod(p, 0o644)
	if _, err := ReadPrivateKeyFile(p); err == nil {
		t.Fatal("a world-readable key file was read")
	}
	f := newFixture(t)
	op := filepath.Join(dir, "node.cert")
	raw, _ := f.cert.Marshal()
	if err := WriteObjectFile(op, raw, 0o644, false); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(op)
	if err != nil || !bytes.Equal(back, raw) {
		t.Fatalf("object file: %v", err)
	}
	if err := WriteObjectFile(op, raw, 0o644, true); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeText([]byte("!!!")); err == nil {
		t.Fatal("non-base64 text decoded")
	}
}

// BenchmarkVerify is the cost of verifying one record (two Ed25519
// verifications and the decoding); it reports the record's size.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, v := Verify(f.recRaw, f.roots, nil, epoch, 1); !v.OK() {
			b.Fatal(v)
		}
	}
	certRaw, _ := f.cert.Marshal()
	b.ReportMetric(float64(len(f.recRaw)), "record-bytes")
	b.ReportMetric(float64(len(certRaw)), "cert-bytes")
}
