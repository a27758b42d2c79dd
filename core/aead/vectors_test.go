// SPDX-License-Identifier: MIT

package aead

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// Test vectors transcribed from RFC 8439.

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

const (
	sunscreen   = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
	ietfNotice  = "Any submission to the IETF intended by the Contributor for publication as all or part of an IETF Internet-Draft or RFC and any statement made within the context of an IETF activity is considered an \"IETF Contribution\". Such statements include oral statements in IETF sessions, as well as written and electronic communications made at any time or place, which are addressed to"
	jabberwocky = "'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy were the borogoves,\nAnd the mome raths outgrabe."
	draftsNote  = "Internet-Drafts are draft documents valid for a maximum of six months and may be updated, replaced, or obsoleted by other documents at any time. It is inappropriate to use Internet-Drafts as reference material or to cite them other than as /\u201cwork in progress./\u201d"
)

// keyStreamVectors are the raw ChaCha20 encryption examples: §2.4.2 and
// Appendix A.2 #1-#3.
var keyStreamVectors = []struct {
	name      string
	key       string
	nonce     string
	counter   uint32
	plaintext []byte
	want      string
}{
	{
		name:      "2.4.2",
		key:       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		nonce:     "000000000000004a00000000",
		counter:   1,
		plaintext: []byte(sunscreen),
		want: `6e2e359a2568f98041ba0728dd0d6981 e97e7aec1d4360c20a27afccfd9fae0b
			f91b65c5524733ab8f593dabcd62b357 1639d624e65152ab8f530c359f0861d8
			07ca0dbf500d6a6156a38e088a22b65e 52bc514d16ccf806818ce91ab7793736
			5af90bbf74a35be6b40b8eedf2785e42 874d`,
	},
	{
		name:      "A.2#1",
		key:       "0000000000000000000000000000000000000000000000000000000000000000",
		nonce:     "000000000000000000000000",
		counter:   0,
		plaintext: make([]byte, 64),
		want: `76b8e0ada0f13d90405d6ae55386bd28 bdd219b8a08ded1aa836efcc8b770dc7
			da41597c5157488d7724e03fb8d84a37 6a43b8f41518a11cc387b669b2ee6586`,
	},
	{
		name:      "A.2#2",
		key:       "0000000000000000000000000000000000000000000000000000000000000001",
		nonce:     "000000000000000000000002",
		counter:   1,
		plaintext: []byte(ietfNotice),
		want: `a3fbf07df3fa2fde4f376ca23e827370 41605d9f4f4f57bd8cff2c1d4b7955ec
			2a97948bd3722915c8f3d337f7d37005 0e9e96d647b7c39f56e031ca5eb6250d
			4042e02785ececfa4b4bb5e8ead0440e 20b6e8db09d881a7c6132f420e527950
			42bdfa7773d8a9051447b3291ce1411c 680465552aa6c405b7764d5e87bea85a
			d00f8449ed8f72d0d662ab052691ca66 424bc86d2df80ea41f43abf937d3259d
			c4b2d0dfb48a6c9139ddd7f76966e928 e635553ba76c5c879d7b35d49eb2e62b
			0871cdac638939e25e8a1e0ef9d5280f a8ca328b351c3c765989cbcf3daa8b6c
			cc3aaf9f3979c92b3720fc88dc95ed84 a1be059c6499b9fda236e7e818b04b0b
			c39c1e876b193bfe5569753f88128cc0 8aaa9b63d1a16f80ef2554d7189c411f
			5869ca52c5b83fa36ff216b9c1d30062 bebcfd2dc5bce0911934fda79a86f6e6
			98ced759c3ff9b6477338f3da4f9cd85 14ea9982ccafb341b2384dd902f3d1ab
			7ac61dd29c6f21ba5b862f3730e37cfd c4fd806c22f221`,
	},
	{
		name:      "A.2#3",
		key:       "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
		nonce:     "000000000000000000000002",
		counter:   42,
		plaintext: []byte(jabberwocky),
		want: `62e6347f95ed87a45ffae7426f27a1df 5fb69110044c0d73118effa95b01e5cf
			166d3df2d721caf9b21e5fb14c616871 fd84c54f9d65b283196c7fe4f60553eb
			f39c6402c42234e32a356b3e764312a6 1a5532055716ead6962568f87d3f3f77
			04c6a8d1bcd1bf4d50d6154b6da731b1 87b58dfd728afa36757a797ac188d1`,
	},
}

// polyKeyVectors are the Poly1305 key generation examples (§2.6.2 and
// Appendix A.4 #2, #3): the first 32 bytes of block 0.
var polyKeyVectors = []struct {
	name, key, nonce, want string
}{
	{
		name:  "2.6.2",
		key:   "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		nonce: "000000000001020304050607",
		want:  "8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646",
	},
	{
		name:  "A.4#2",
		key:   "0000000000000000000000000000000000000000000000000000000000000001",
		nonce: "000000000000000000000002",
		want:  "ecfa254f845f647473d3cb140da9e87606cb33066c447b87bc2666dde3fbb739",
	},
	{
		name:  "A.4#3",
		key:   "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
		nonce: "000000000000000000000002",
		want:  "965e3bc6f9ec7ed9560808f4d229f94b137ff275ca9b3fcbdd59deaad23310ae",
	},
}

// aeadVectors are §2.8.2 (encryption) and Appendix A.5 (decryption). The
// ciphertext includes the tag.
var aeadVectors = []struct {
	name, key, nonce, aad string
	plaintext             []byte
	sealed                string
}{
	{
		name:      "2.8.2",
		key:       "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
		nonce:     "070000004041424344454647",
		aad:       "50515253c0c1c2c3c4c5c6c7",
		plaintext: []byte(sunscreen),
		sealed: `d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
			3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
			92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
			3ff4def08e4b7a9de576d26586cec64b 6116
			1ae10b594f09e26a7e902ecbd0600691`,
	},
	{
		name:      "A.5",
		key:       "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
		nonce:     "000000000102030405060708",
		aad:       "f33388860000000000004e91",
		plaintext: []byte(draftsNote),
		sealed: `64a0861575861af460f062c79be643bd 5e805cfd345cf389f108670ac76c8cb2
			4c6cfc18755d43eea09ee94e382d26b0 bdb7b73c321b0100d4f03b7f355894cf
			332f830e710b97ce98c8a84abd0b9481 14ad176e008d33bd60f982b1ff37c855
			9797a06ef4f0ef61c186324e2b350638 3606907b6a7c02b0f9f6157b53c867e4
			b9166c767b804d46a59b5216cde7a4e9 9040c5a40433225ee282a1b0a06c523e
			af4534d7f83fa1155b0047718cbc546a 0d072b04b3564eea1b422273f548271a
			0bb2316053fa76991955ebd63159434e cebb4e466dae5a1073a6727627097a10
			49e617d91d361094fa68f0ff77987130 305beaba2eda04df997b714d6c6f2c29
			a6ad5cb4022b02709b
			eead9d67890cbb22392336fea1851f38`,
	},
}

// testState builds the ChaCha20 input block for a raw key and nonce.
func testState(t *testing.T, key, nonce []byte, counter uint32) [16]uint32 {
	t.Helper()
	c, err := newAVX512(key)
	if err != nil {
		t.Fatal(err)
	}
	st := c.state(nonce)
	st[12] = counter
	return st
}

func TestKeyStreamVectors(t *testing.T) {
	requireAVX512(t)
	for _, v := range keyStreamVectors {
		t.Run(v.name, func(t *testing.T) {
			st := testState(t, unhex(v.key), unhex(v.nonce), v.counter)
			want := unhex(v.want)
			got := make([]byte, len(v.plaintext))
			xorKeyStream(got, v.plaintext, &st, nil)
			if !bytes.Equal(got, want) {
				t.Errorf("out-of-place:\n got %x\nwant %x", got, want)
			}
			// In place, and with the block before as a diverted first block.
			buf := bytes.Clone(v.plaintext)
			xorKeyStream(buf, buf, &st, nil)
			if !bytes.Equal(buf, want) {
				t.Errorf("in-place:\n got %x\nwant %x", buf, want)
			}
			if v.counter > 0 {
				st[12] = v.counter - 1
				var first [64]byte
				buf = bytes.Clone(v.plaintext)
				xorKeyStream(buf, buf, &st, &first)
				if !bytes.Equal(buf, want) {
					t.Errorf("after diverted block:\n got %x\nwant %x", buf, want)
				}
			}
		})
	}
}

func TestPolyKeyVectors(t *testing.T) {
	requireAVX512(t)
	for _, v := range polyKeyVectors {
		t.Run(v.name, func(t *testing.T) {
			st := testState(t, unhex(v.key), unhex(v.nonce), 0)
			var first [64]byte
			xorKeyStream(nil, nil, &st, &first)
			if want := unhex(v.want); !bytes.Equal(first[:32], want) {
				t.Errorf("got %x\nwant %x", first[:32], want)
			}
		})
	}
}

func TestAEADVectors(t *testing.T) {
	for _, impl := range implementations() {
		t.Run(impl.name, func(t *testing.T) {
			impl.check(t)
			for _, v := range aeadVectors {
				t.Run(v.name, func(t *testing.T) {
					a, err := impl.new(unhex(v.key))
					if err != nil {
						t.Fatal(err)
					}
					nonce, aad, want := unhex(v.nonce), unhex(v.aad), unhex(v.sealed)
					if got := a.Seal(nil, nonce, v.plaintext, aad); !bytes.Equal(got, want) {
						t.Errorf("Seal:\n got %x\nwant %x", got, want)
					}
					pt, err := a.Open(nil, nonce, want, aad)
					if err != nil || !bytes.Equal(pt, v.plaintext) {
						t.Errorf("Open = %q, %v; want %q", pt, err, v.plaintext)
					}
				})
			}
		})
	}
}
