// SPDX-License-Identifier: MIT

// Package etcdrecord is how the etcd discovery plugin stores a node's
// record: the etcd key that names it and the JSON value, readable and
// writable with etcdctl. It is a package of its own, without the etcd
// client below it, so that its fuzz target does not compile the etcd
// client a second time with coverage instrumentation.
package etcdrecord

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// MaxValueSize bounds a record's value; real ones are a few hundred bytes.
const MaxValueSize = 64 << 10

// value is a record as stored in etcd: JSON, readable and writable with
// etcdctl. The key is PREFIX + the public key in unpadded base64url, so
// that a deletion (which carries no value) still says whose record went.
type value struct {
	PublicKey           string   `json:"public_key"`
	Name                string   `json:"name,omitempty"`
	Endpoints           []string `json:"endpoints,omitempty"`
	AllowedIPs          []string `json:"allowed_ips,omitempty"`
	PersistentKeepalive uint16   `json:"persistent_keepalive,omitempty"`
	PSKRef              string   `json:"psk_ref,omitempty"`
	// Signed is the node's signed fleet record (base64 in JSON).
	Signed []byte `json:"signed,omitempty"`
}

// Name is the etcd key of the node with public key k.
func Name(prefix string, k sdk.Key) string {
	return prefix + base64.RawURLEncoding.EncodeToString(k[:])
}

// KeyFromName recovers the public key from an etcd key under prefix.
func KeyFromName(prefix, name string) (sdk.Key, error) {
	var k sdk.Key
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return k, fmt.Errorf("key %q is not under %q", name, prefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != sdk.KeySize {
		return k, fmt.Errorf("key %q does not end in a base64url public key", name)
	}
	copy(k[:], b)
	return k, nil
}

// Encode is the value stored for r.
func Encode(r *sdk.Record) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	v := value{
		PublicKey:           base64.StdEncoding.EncodeToString(r.PublicKey[:]),
		Name:                r.Name,
		Endpoints:           r.Endpoints,
		PersistentKeepalive: r.PersistentKeepalive,
		PSKRef:              r.PSKRef,
		Signed:              r.Signed,
	}
	for _, p := range r.AllowedIPs {
		v.AllowedIPs = append(v.AllowedIPs, p.String())
	}
	return json.Marshal(v)
}

// Parse reads the value stored under etcd key name. The record's
// public key must be the one the key name carries: a node cannot publish
// a record under another node's name.
func Parse(prefix, name string, data []byte) (sdk.Record, error) {
	var r sdk.Record
	if len(data) > MaxValueSize {
		return r, fmt.Errorf("%s: value larger than %d bytes", name, MaxValueSize)
	}
	k, err := KeyFromName(prefix, name)
	if err != nil {
		return r, err
	}
	var v value
	if err := json.Unmarshal(data, &v); err != nil {
		return r, fmt.Errorf("%s: %v", name, err)
	}
	pk, err := base64.StdEncoding.DecodeString(v.PublicKey)
	if err != nil || len(pk) != sdk.KeySize {
		return r, fmt.Errorf("%s: public_key is not a base64 key", name)
	}
	if sdk.Key(pk) != k {
		return r, fmt.Errorf("%s: public_key does not match the key name", name)
	}
	if len(v.AllowedIPs) > sdk.MaxRecordAllowedIPs {
		return r, fmt.Errorf("%s: too many allowed IPs", name)
	}
	r = sdk.Record{
		PublicKey:           k,
		Name:                v.Name,
		Endpoints:           v.Endpoints,
		PersistentKeepalive: v.PersistentKeepalive,
		PSKRef:              v.PSKRef,
		Signed:              v.Signed,
	}
	for _, s := range v.AllowedIPs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return sdk.Record{}, fmt.Errorf("%s: allowed IP %q: %v", name, s, err)
		}
		r.AllowedIPs = append(r.AllowedIPs, p)
	}
	if err := r.Check(); err != nil {
		return sdk.Record{}, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}
