// SPDX-License-Identifier: MIT

package fleet

import (
	"bytes"
	"testing"
	"time"
)

// The fuzz targets check that no input makes a decoder or the verifier
// panic, and that whatever decodes encodes back to the same bytes (one
// object, one encoding). Their seed corpora are in testdata/fuzz.

func FuzzParseCertificate(f *testing.F) {
	fx := newFixture(f)
	raw, _ := fx.cert.Marshal()
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCertificate(data)
		if err != nil {
			return
		}
		again, err := c.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs: %v", err)
		}
		if re := c.tbs(); !bytes.Equal(append(re, c.Signature...), data) {
			t.Fatal("fields do not encode back to the input")
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.recRaw)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		if re := r.tbs(r.Cert.raw); !bytes.Equal(append(re, r.Signature...), data) {
			t.Fatal("fields do not encode back to the input")
		}
	})
}

func FuzzParseRevocationList(f *testing.F) {
	fx := newFixture(f)
	raw, _ := (&RevocationList{Issued: epoch, Serials: []uint64{1, 5}}).Sign(fx.caKey)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseRevocationList(data)
		if err != nil {
			return
		}
		if re := l.tbs(); !bytes.Equal(append(re, l.Signature...), data) {
			t.Fatal("fields do not encode back to the input")
		}
		_ = l.CheckSignature(&CA{Key: fx.ca.Key})
	})
}

func FuzzParseCA(f *testing.F) {
	fx := newFixture(f)
	raw, _ := fx.ca.Marshal()
	f.Add(raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		ca, err := ParseCA(data)
		if err != nil {
			return
		}
		again, err := ca.Marshal()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs: %v", err)
		}
	})
}

// FuzzVerify: whatever the bytes, Verify returns a record exactly when it
// says OK, and only for a record the fixture's node signed.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.recRaw, uint64(0), int64(0))
	f.Add(fx.recRaw, uint64(100), int64(3600))
	f.Fuzz(func(t *testing.T, data []byte, last uint64, offset int64) {
		now := epoch.Add(timeDuration(offset))
		rec, v := Verify(data, fx.roots, nil, now, last)
		if v.OK() != (rec != nil) {
			t.Fatalf("verdict %v with record %v", v, rec != nil)
		}
		if v.OK() && (rec.Sequence <= last || rec.Cert.Issuer != fx.ca.ID()) {
			t.Fatalf("accepted a record that should not verify: %+v", rec)
		}
		if !v.OK() && v.Reason.String() == "" {
			t.Fatal("refusal without a reason label")
		}
	})
}

// timeDuration turns a fuzzed number into seconds, bounded to stay
// representable.
func timeDuration(s int64) (d time.Duration) {
	s %= 1 << 32
	return time.Duration(s) * 1e9
}
