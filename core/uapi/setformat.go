// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"errors"
	"io"

	"github.com/wgplex/wgplex/core"
)

// ErrKeyStoreNotSendable is returned by WriteSet for a change set that
// installs a KeyStore: a key store is an object in this process, and the
// protocol can only carry key bytes.
var ErrKeyStoreNotSendable = errors.New("uapi: a KeyStore cannot be sent over the protocol")

// WriteSet writes the body of a set=1 request for cfg: the key=value lines,
// but neither the "set=1" line before them nor the empty line after. The
// order is the one wg(8) sends, which both the reference implementation
// and ParseSet accept:
//
//	private_key, listen_port, fwmark, replace_peers
//	then for each peer: public_key, then either remove=true alone, or
//	update_only, protocol_version, preshared_key, endpoint,
//	persistent_keepalive_interval, replace_allowed_ips and one allowed_ip
//	line per change ("-PREFIX" for a removal)
//
// Keys go out in hex. If w is a *bufio.Writer it is left for the caller to
// flush; otherwise WriteSet buffers and flushes itself.
func WriteSet(w io.Writer, cfg core.Config) error {
	if cfg.KeyStore != nil {
		return ErrKeyStoreNotSendable
	}
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	g := getWriter{w: bw}
	if cfg.PrivateKey != nil {
		g.key("private_key", (*[keyLen]byte)(cfg.PrivateKey))
	}
	if cfg.ListenPort != nil {
		g.uint("listen_port", uint64(*cfg.ListenPort))
	}
	if cfg.FwMark != nil {
		g.uint("fwmark", uint64(*cfg.FwMark))
	}
	if cfg.ReplacePeers {
		g.str("replace_peers", "true")
	}
	for i := range cfg.Peers {
		p := &cfg.Peers[i]
		g.key("public_key", (*[keyLen]byte)(&p.PublicKey))
		if p.Remove {
			g.str("remove", "true")
			continue
		}
		if p.UpdateOnly {
			g.str("update_only", "true")
		}
		if p.ProtocolVersion != 0 {
			g.uint("protocol_version", uint64(p.ProtocolVersion))
		}
		if p.PresharedKey != nil {
			g.key("preshared_key", (*[keyLen]byte)(p.PresharedKey))
		}
		if p.Endpoint != nil {
			g.str("endpoint", p.Endpoint.String())
		}
		if p.PersistentKeepalive != nil {
			g.uint("persistent_keepalive_interval", uint64(*p.PersistentKeepalive))
		}
		if p.ReplaceAllowedIPs {
			g.str("replace_allowed_ips", "true")
		}
		for _, a := range p.AllowedIPs {
			s := a.Prefix.String()
			if a.Remove {
				s = "-" + s
			}
			g.str("allowed_ip", s)
		}
	}
	if g.err != nil {
		return g.err
	}
	if !ok {
		return bw.Flush()
	}
	return nil
}
