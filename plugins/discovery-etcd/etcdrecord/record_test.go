// SPDX-License-Identifier: MIT

package etcdrecord

import (
	"net/netip"
	"testing"

	"github.com/wgplex/wgplex/plugins/sdk"
)

const testPrefix = "/wgplex/test/"

func testRecord() sdk.Record {
	var k sdk.Key
	k[0], k[31] = 7, 1
	return sdk.Record{
		PublicKey:           k,
		Name:                "host-7",
		Endpoints:           []string{"192.0.2.7:51820"},
		AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("10.0.0.7/32")},
		PersistentKeepalive: 25,
		PSKRef:              "fleet",
		Signed:              []byte("WGFR\x01opaque"),
	}
}

func TestRecordValueRoundTrip(t *testing.T) {
	r := testRecord()
	val, err := Encode(&r)
	if err != nil {
		t.Fatal(err)
	}
	name := Name(testPrefix, r.PublicKey)
	back, err := Parse(testPrefix, name, val)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(&r) {
		t.Fatalf("round trip: %+v != %+v", back, r)
	}
	// A record under another node's name is refused.
	var other sdk.Key
	other[0] = 9
	if _, err := Parse(testPrefix, Name(testPrefix, other), val); err == nil {
		t.Error("a record under another key's name was accepted")
	}
	for name, v := range map[string]string{
		"not json":   "{",
		"bad key":    `{"public_key":"AAAA"}`,
		"bad prefix": `{"public_key":"BwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=","allowed_ips":["10.0.0.1/40"]}`,
		"bad psk":    `{"public_key":"BwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=","psk_ref":"../x"}`,
	} {
		if _, err := Parse(testPrefix, Name(testPrefix, r.PublicKey), []byte(v)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := KeyFromName(testPrefix, "/elsewhere/x"); err == nil {
		t.Error("a key outside the prefix was accepted")
	}
}

// FuzzParseRecord feeds arbitrary values to the record parser: no panic,
// and whatever is accepted encodes to a value that parses to the same.
func FuzzParseRecord(f *testing.F) {
	r := testRecord()
	seed, _ := Encode(&r)
	f.Add(seed)
	name := Name(testPrefix, r.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := Parse(testPrefix, name, data)
		if err != nil {
			return
		}
		val, err := Encode(&rec)
		if err != nil {
			t.Fatalf("encoding an accepted record: %v", err)
		}
		back, err := Parse(testPrefix, name, val)
		if err != nil || !back.Equal(&rec) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, rec, back)
		}
	})
}
