// SPDX-License-Identifier: MIT

//go:build cgo

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// PKCS#11 3.0 names that github.com/miekg/pkcs11 v1.1 does not define.
const (
	ckkECEdwards               = 0x00000040
	ckkECMontgomery            = 0x00000041
	ckmECEdwardsKeyPairGen     = 0x00001055
	ckmECMontgomeryKeyPairGen  = 0x00001056
	maxObjectsWithOneLabel     = 4
	curve25519PublicKeyDERSize = 2 + sdk.KeySize
)

// Curve25519's domain parameters as tokens write CKA_EC_PARAMS: the
// X25519 object identifier (1.3.101.110, RFC 8410) or the PKCS#11 3.0
// printable-string form.
var (
	oidX25519       = []byte{0x06, 0x03, 0x2b, 0x65, 0x6e}
	curveNameX25519 = append([]byte{0x13, 0x0a}, "curve25519"...)
)

type options struct {
	module   string
	token    string
	label    string
	pin      string
	sessions int
}

// tokenVault serves the key pair labelled opts.label in one token.
type tokenVault struct {
	ctx  *pkcs11.Ctx
	slot uint
	opts options

	// pool holds the open sessions; a PKCS#11 session runs one operation
	// at a time, so each call borrows one.
	pool chan pkcs11.SessionHandle

	mu   sync.RWMutex
	priv pkcs11.ObjectHandle // 0 when there is no key yet
	pub  sdk.Key

	// derDeriveInput is set once the token has refused the raw peer key
	// in CKM_ECDH1_DERIVE and accepted it DER-wrapped (an OCTET STRING),
	// which some tokens want.
	derDeriveInput atomic.Bool
}

// openToken loads the module, logs in to the token and looks the key up.
func openToken(o options) (*tokenVault, error) {
	if o.sessions < 1 {
		o.sessions = 1
	}
	ctx := pkcs11.New(o.module)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load PKCS#11 module %s", o.module)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("%s: C_Initialize: %w", o.module, err)
	}
	v := &tokenVault{ctx: ctx, opts: o, pool: make(chan pkcs11.SessionHandle, o.sessions)}
	if err := v.open(); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (v *tokenVault) open() error {
	slot, err := v.findSlot()
	if err != nil {
		return err
	}
	v.slot = slot
	for i := 0; i < v.opts.sessions; i++ {
		s, err := v.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
		if err != nil {
			return fmt.Errorf("C_OpenSession: %w", err)
		}
		v.pool <- s
		if i == 0 {
			// Login state is per application and token, shared by all
			// its sessions.
			if err := v.ctx.Login(s, pkcs11.CKU_USER, v.opts.pin); err != nil && !isCode(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
				return fmt.Errorf("C_Login: %w", err)
			}
		}
	}
	s := <-v.pool
	defer func() { v.pool <- s }()
	priv, pub, err := v.findKey(s)
	if err != nil {
		return err
	}
	v.priv, v.pub = priv, pub
	return nil
}

// findSlot picks the slot whose token has the configured label, or the
// first slot with a token when no label is given.
func (v *tokenVault) findSlot() (uint, error) {
	slots, err := v.ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	var labels []string
	for _, s := range slots {
		ti, err := v.ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		label := strings.TrimRight(ti.Label, " \x00")
		if v.opts.token == "" || label == v.opts.token {
			return s, nil
		}
		labels = append(labels, label)
	}
	if v.opts.token == "" {
		return 0, errors.New("no token present")
	}
	return 0, fmt.Errorf("no token labelled %q (present: %q)", v.opts.token, labels)
}

// findKey looks up the key pair by label and checks that it is a
// Curve25519 key the token can derive with. It returns a zero handle, not
// an error, when there is no such key.
func (v *tokenVault) findKey(s pkcs11.SessionHandle) (pkcs11.ObjectHandle, sdk.Key, error) {
	privs, err := v.find(s, pkcs11.CKO_PRIVATE_KEY)
	if err != nil || len(privs) == 0 {
		return 0, sdk.Key{}, err
	}
	if len(privs) > 1 {
		return 0, sdk.Key{}, fmt.Errorf("%d private keys labelled %q; keep one", len(privs), v.opts.label)
	}
	attrs, err := v.ctx.GetAttributeValue(s, privs[0], []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, nil),
	})
	if err != nil {
		return 0, sdk.Key{}, fmt.Errorf("private key attributes: %w", err)
	}
	if kt := bytesToUint(attrs[0].Value); kt != ckkECEdwards && kt != ckkECMontgomery {
		return 0, sdk.Key{}, fmt.Errorf("key %q has key type %#x, want CKK_EC_MONTGOMERY or CKK_EC_EDWARDS", v.opts.label, kt)
	}
	if p := attrs[1].Value; !bytes.Equal(p, oidX25519) && !bytes.Equal(p, curveNameX25519) {
		return 0, sdk.Key{}, fmt.Errorf("key %q is not on curve25519 (CKA_EC_PARAMS %x)", v.opts.label, p)
	}
	if !bytesToBool(attrs[2].Value) {
		return 0, sdk.Key{}, fmt.Errorf("key %q does not allow derivation (CKA_DERIVE false)", v.opts.label)
	}
	pubs, err := v.find(s, pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return 0, sdk.Key{}, err
	}
	if len(pubs) != 1 {
		return 0, sdk.Key{}, fmt.Errorf("%d public keys labelled %q, want 1", len(pubs), v.opts.label)
	}
	pa, err := v.ctx.GetAttributeValue(s, pubs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return 0, sdk.Key{}, fmt.Errorf("public key: %w", err)
	}
	pub, err := parsePoint(pa[0].Value)
	if err != nil {
		return 0, sdk.Key{}, fmt.Errorf("public key %q: %w", v.opts.label, err)
	}
	return privs[0], pub, nil
}

func (v *tokenVault) find(s pkcs11.SessionHandle, class uint) ([]pkcs11.ObjectHandle, error) {
	if err := v.ctx.FindObjectsInit(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, v.opts.label),
	}); err != nil {
		return nil, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	objs, _, err := v.ctx.FindObjects(s, maxObjectsWithOneLabel)
	if ferr := v.ctx.FindObjectsFinal(s); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, fmt.Errorf("C_FindObjects: %w", err)
	}
	return objs, nil
}

// parsePoint reads CKA_EC_POINT: a DER OCTET STRING around the 32-byte
// u-coordinate (what the standard asks for) or the raw 32 bytes (what
// some tokens return).
func parsePoint(b []byte) (sdk.Key, error) {
	switch {
	case len(b) == sdk.KeySize:
		return sdk.Key(b), nil
	case len(b) == curve25519PublicKeyDERSize && b[0] == 0x04 && b[1] == sdk.KeySize:
		return sdk.Key(b[2:]), nil
	}
	return sdk.Key{}, fmt.Errorf("CKA_EC_POINT of %d bytes is not a Curve25519 point", len(b))
}

func (v *tokenVault) session(ctx context.Context) (pkcs11.SessionHandle, error) {
	select {
	case s := <-v.pool:
		return s, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// PublicKey implements sdk.KeyVault.
func (v *tokenVault) PublicKey(context.Context) (sdk.Key, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.priv == 0 {
		return sdk.Key{}, fmt.Errorf("%w: no key labelled %q in the token (create it with wgplex vault-genkey)", sdk.ErrNoKey, v.opts.label)
	}
	return v.pub, nil
}

// DH implements sdk.KeyVault with CKM_ECDH1_DERIVE: the token derives a
// session-only generic secret, which is read and destroyed at once.
func (v *tokenVault) DH(ctx context.Context, peer sdk.Key) (sdk.Key, error) {
	v.mu.RLock()
	priv := v.priv
	v.mu.RUnlock()
	if priv == 0 {
		return sdk.Key{}, sdk.ErrNoKey
	}
	s, err := v.session(ctx)
	if err != nil {
		return sdk.Key{}, err
	}
	defer func() { v.pool <- s }()
	if v.derDeriveInput.Load() {
		return v.derive(s, priv, append([]byte{0x04, sdk.KeySize}, peer[:]...))
	}
	out, err := v.derive(s, priv, peer[:])
	if err != nil {
		// Retry once with the DER-wrapped form before giving up.
		if out2, err2 := v.derive(s, priv, append([]byte{0x04, sdk.KeySize}, peer[:]...)); err2 == nil {
			v.derDeriveInput.Store(true)
			return out2, nil
		}
	}
	return out, err
}

func (v *tokenVault) derive(s pkcs11.SessionHandle, priv pkcs11.ObjectHandle, peer []byte) (sdk.Key, error) {
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDH1_DERIVE,
		pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, peer))}
	h, err := v.ctx.DeriveKey(s, mech, priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, sdk.KeySize),
	})
	if err != nil {
		return sdk.Key{}, fmt.Errorf("C_DeriveKey (CKM_ECDH1_DERIVE): %w", err)
	}
	defer v.ctx.DestroyObject(s, h)
	attrs, err := v.ctx.GetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	if err != nil {
		return sdk.Key{}, fmt.Errorf("derived secret: %w", err)
	}
	val := attrs[0].Value
	if len(val) != sdk.KeySize {
		return sdk.Key{}, fmt.Errorf("token derived %d bytes, want %d", len(val), sdk.KeySize)
	}
	out := sdk.Key(val)
	clear(val)
	var zero sdk.Key
	if out == zero {
		return sdk.Key{}, errors.New("X25519 result is all zeros (low-order peer key)")
	}
	return out, nil
}

// GenerateKey implements sdk.KeyGenerator: a new Curve25519 key pair is
// generated inside the token, the private half sensitive and not
// extractable. With overwrite, the old pair is destroyed once the new one
// exists.
func (v *tokenVault) GenerateKey(ctx context.Context, overwrite bool) (sdk.Key, error) {
	s, err := v.session(ctx)
	if err != nil {
		return sdk.Key{}, err
	}
	defer func() { v.pool <- s }()
	oldPriv, err := v.find(s, pkcs11.CKO_PRIVATE_KEY)
	if err != nil {
		return sdk.Key{}, err
	}
	oldPub, err := v.find(s, pkcs11.CKO_PUBLIC_KEY)
	if err != nil {
		return sdk.Key{}, err
	}
	if len(oldPriv)+len(oldPub) > 0 && !overwrite {
		return sdk.Key{}, fmt.Errorf("%w: label %q", sdk.ErrKeyExists, v.opts.label)
	}
	mech, err := v.keyPairMechanism()
	if err != nil {
		return sdk.Key{}, err
	}
	id := []byte(v.opts.label)
	pubH, privH, err := v.ctx.GenerateKeyPair(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, v.opts.label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, oidX25519),
		},
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, v.opts.label),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
	if err != nil {
		return sdk.Key{}, fmt.Errorf("C_GenerateKeyPair: %w", err)
	}
	pa, err := v.ctx.GetAttributeValue(s, pubH, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	var pub sdk.Key
	if err == nil {
		pub, err = parsePoint(pa[0].Value)
	}
	if err != nil {
		v.ctx.DestroyObject(s, pubH)
		v.ctx.DestroyObject(s, privH)
		return sdk.Key{}, fmt.Errorf("new public key: %w", err)
	}
	for _, h := range slices.Concat(oldPriv, oldPub) {
		if err := v.ctx.DestroyObject(s, h); err != nil {
			return sdk.Key{}, fmt.Errorf("destroying the old key: %w", err)
		}
	}
	v.mu.Lock()
	v.priv, v.pub = privH, pub
	v.mu.Unlock()
	return pub, nil
}

// keyPairMechanism prefers the PKCS#11 3.0 Montgomery generator and falls
// back to the Edwards one with curve25519 parameters (SoftHSM2).
func (v *tokenVault) keyPairMechanism() (uint, error) {
	mechs, err := v.ctx.GetMechanismList(v.slot)
	if err != nil {
		return 0, fmt.Errorf("C_GetMechanismList: %w", err)
	}
	has := func(m uint) bool {
		return slices.ContainsFunc(mechs, func(x *pkcs11.Mechanism) bool { return x.Mechanism == m })
	}
	if !has(pkcs11.CKM_ECDH1_DERIVE) {
		return 0, errors.New("the token does not offer CKM_ECDH1_DERIVE")
	}
	switch {
	case has(ckmECMontgomeryKeyPairGen):
		return ckmECMontgomeryKeyPairGen, nil
	case has(ckmECEdwardsKeyPairGen):
		return ckmECEdwardsKeyPairGen, nil
	}
	return 0, errors.New("the token offers neither CKM_EC_MONTGOMERY_KEY_PAIR_GEN nor CKM_EC_EDWARDS_KEY_PAIR_GEN")
}

func (v *tokenVault) close() {
	close(v.pool)
	for s := range v.pool {
		v.ctx.CloseSession(s)
	}
	v.ctx.Finalize()
	v.ctx.Destroy()
}

func isCode(err error, code uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == code
}

// bytesToUint decodes a CK_ULONG attribute, in the native byte order.
func bytesToUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

func bytesToBool(b []byte) bool { return len(b) == 1 && b[0] != 0 }
