// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/wgplex/wgplex/core"
)

// Resolver turns an Endpoint as written in a file into an address. The
// caller chooses how: ResolveEndpoint uses the system resolver, a test can
// use a table.
type Resolver func(endpoint string) (netip.AddrPort, error)

// ResolveEndpoint resolves "host:port", "ip:port" or "[ipv6]:port" and
// returns the first address the resolver gives, as wg(8) does. A numeric
// address (an IPv6 one may carry a zone) needs no lookup.
func ResolveEndpoint(ctx context.Context, endpoint string) (netip.AddrPort, error) {
	host, portStr, err := SplitEndpoint(endpoint)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, _ := ParsePort(portStr) // checked by SplitEndpoint
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a, port), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %s", host)
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), port), nil
}

func defaultResolver(endpoint string) (netip.AddrPort, error) {
	return ResolveEndpoint(context.Background(), endpoint)
}

// SetConf returns the change set "wg setconf" makes from f: the interface
// becomes exactly what the file says. Keys the file leaves out are reset
// (no private key, port 0, no fwmark), every peer not in the file is
// removed, and each peer's allowed IPs are replaced by the file's.
// Endpoints are resolved with resolve (ResolveEndpoint if nil).
func (f *File) SetConf(resolve Resolver) (core.Config, error) {
	cfg, err := f.AddConf(resolve)
	if err != nil {
		return core.Config{}, err
	}
	if cfg.PrivateKey == nil {
		cfg.PrivateKey = new(core.PrivateKey)
	}
	if cfg.ListenPort == nil {
		cfg.ListenPort = new(uint16)
	}
	if cfg.FwMark == nil {
		cfg.FwMark = new(uint32)
	}
	cfg.ReplacePeers = true
	return cfg, nil
}

// AddConf returns the change set "wg addconf" makes from f: the interface
// keys the file sets are changed, its peers are added or updated (each
// one's allowed IPs replaced by the file's), and nothing else is touched.
func (f *File) AddConf(resolve Resolver) (core.Config, error) {
	if resolve == nil {
		resolve = defaultResolver
	}
	var cfg core.Config
	in := &f.Interface
	if in.PrivateKey != nil {
		k := *in.PrivateKey
		cfg.PrivateKey = &k
	}
	if in.ListenPort != nil {
		port := *in.ListenPort
		cfg.ListenPort = &port
	}
	if in.FwMark != nil {
		mark := *in.FwMark
		cfg.FwMark = &mark
	}
	cfg.Peers = make([]core.PeerConfig, 0, len(f.Peers))
	for i := range f.Peers {
		p := &f.Peers[i]
		pc := core.PeerConfig{PublicKey: p.PublicKey, ReplaceAllowedIPs: true}
		if p.PresharedKey != nil {
			psk := *p.PresharedKey
			pc.PresharedKey = &psk
		}
		if p.Endpoint != "" {
			ap, err := resolve(p.Endpoint)
			if err != nil {
				return core.Config{}, f.endpointError(p, err)
			}
			pc.Endpoint = &ap
		}
		if p.PersistentKeepalive != nil {
			ka := *p.PersistentKeepalive
			pc.PersistentKeepalive = &ka
		}
		if len(p.AllowedIPs) > 0 {
			pc.AllowedIPs = make([]core.AllowedIPChange, len(p.AllowedIPs))
			for j, pfx := range p.AllowedIPs {
				pc.AllowedIPs[j] = core.AllowedIPChange{Prefix: pfx}
			}
		}
		cfg.Peers = append(cfg.Peers, pc)
	}
	return cfg, nil
}

// SyncConf returns the change set "wg syncconf" makes from f for an
// interface currently in state cur: the same end state as SetConf, reached
// without disturbing peers that stay. Instead of replacing all peers, it
// removes only those not in the file; for a peer that stays, a pre-shared
// key or keepalive the file no longer sets is cleared explicitly, and
// sessions and endpoints learned by roaming are kept.
func (f *File) SyncConf(cur core.Snapshot, resolve Resolver) (core.Config, error) {
	cfg, err := f.SetConf(resolve)
	if err != nil {
		return core.Config{}, err
	}
	// With nothing on one side there is nothing to keep: replacing is
	// the same thing.
	if len(f.Peers) == 0 || len(cur.Peers) == 0 {
		return cfg, nil
	}
	cfg.ReplacePeers = false
	inFile := make(map[core.PublicKey]int, len(cfg.Peers))
	for i := range cfg.Peers {
		inFile[cfg.Peers[i].PublicKey] = i
	}
	var removals []core.PeerConfig
	for i := range cur.Peers {
		cp := &cur.Peers[i]
		j, ok := inFile[cp.PublicKey]
		if !ok {
			removals = append(removals, core.PeerConfig{PublicKey: cp.PublicKey, Remove: true})
			continue
		}
		pc := &cfg.Peers[j]
		if pc.PresharedKey == nil && !cp.PresharedKey.IsZero() {
			pc.PresharedKey = new(core.PresharedKey)
		}
		if pc.PersistentKeepalive == nil && cp.PersistentKeepalive != 0 {
			pc.PersistentKeepalive = new(uint16)
		}
	}
	// Removals first, in key order, so that the change set does not
	// depend on the order in which the daemon listed its peers.
	slices.SortFunc(removals, func(a, b core.PeerConfig) int {
		return bytes.Compare(a.PublicKey[:], b.PublicKey[:])
	})
	cfg.Peers = append(removals, cfg.Peers...)
	return cfg, nil
}
