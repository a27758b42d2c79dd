// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"io"
	"strconv"

	"github.com/wgplex/wgplex/core"
)

// WriteGet writes the body of the reply to get=1 for s: every key=value line
// but not the final errno line. Fields and their order are those of the
// reference implementation, so that "wg show dump" reads the same against
// either:
//
//	private_key=HEX      only if the snapshot carries a non-zero key
//	listen_port=N        only if non-zero
//	fwmark=N             only if non-zero
//	then for each peer, in snapshot order:
//	public_key=HEX
//	preshared_key=HEX    always, all zeros when none is set
//	protocol_version=1
//	endpoint=IP:PORT     only if known; IPv6 as [IP]:PORT
//	last_handshake_time_sec=N
//	last_handshake_time_nsec=N   both 0 if there was no handshake
//	tx_bytes=N
//	rx_bytes=N
//	persistent_keepalive_interval=N
//	allowed_ip=PREFIX    one line per prefix
//
// If w is a *bufio.Writer it is left for the caller to flush; otherwise
// WriteGet buffers and flushes itself.
// PublicKeyExtension is the device-level get key that reports the
// interface's public key when no private key can be shown (a key vault is
// in charge).
const PublicKeyExtension = "wgplex_public_key"

func WriteGet(w io.Writer, s core.Snapshot) error {
	return WriteGetExtended(w, s, nil)
}

// WriteGetExtended is WriteGet with the daemon's extension lines added
// among the device-level keys, before the first peer (where wg(8) reads
// device keys, and skips those it does not know). Extensions that fail
// Extension.Valid are left out.
func WriteGetExtended(w io.Writer, s core.Snapshot, ext []Extension) error {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		bw = bufio.NewWriter(w)
	}
	g := getWriter{w: bw}
	if s.PrivateKey != nil && !s.PrivateKey.IsZero() {
		g.key("private_key", (*[keyLen]byte)(s.PrivateKey))
	} else if !s.PublicKey.IsZero() {
		// A key vault holds the private key, so wg(8) has nothing to derive
		// the public key from. This extension line carries it instead; wg(8)
		// and wgctrl ignore device-level keys they do not know, and
		// "wgplex show" displays it.
		g.key(PublicKeyExtension, (*[keyLen]byte)(&s.PublicKey))
	}
	if s.ListenPort != 0 {
		g.uint("listen_port", uint64(s.ListenPort))
	}
	if s.FwMark != 0 {
		g.uint("fwmark", uint64(s.FwMark))
	}
	for _, e := range ext {
		if e.Valid() {
			g.line([]byte(e.Key + "=" + e.Value + "\n"))
		}
	}
	for i := range s.Peers {
		p := &s.Peers[i]
		g.key("public_key", (*[keyLen]byte)(&p.PublicKey))
		g.key("preshared_key", (*[keyLen]byte)(&p.PresharedKey))
		// Version 1 is the only one there is; a snapshot that leaves the
		// field unset means the same.
		g.uint("protocol_version", 1)
		if p.Endpoint.IsValid() {
			g.str("endpoint", p.Endpoint.String())
		}
		var sec, nsec int64
		// A time before 1970 cannot be written as wg(8) parses it
		// (unsigned digits); report it as "never" instead.
		if !p.LastHandshake.IsZero() && p.LastHandshake.Unix() >= 0 {
			sec, nsec = p.LastHandshake.Unix(), int64(p.LastHandshake.Nanosecond())
		}
		g.uint("last_handshake_time_sec", uint64(sec))
		g.uint("last_handshake_time_nsec", uint64(nsec))
		g.uint("tx_bytes", p.TxBytes)
		g.uint("rx_bytes", p.RxBytes)
		g.uint("persistent_keepalive_interval", uint64(p.PersistentKeepalive))
		for _, prefix := range p.AllowedIPs {
			g.str("allowed_ip", prefix.String())
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

// getWriter writes key=value lines and remembers the first write error, so
// that WriteGet reads as the list of fields it emits.
type getWriter struct {
	w   *bufio.Writer
	buf [128]byte
	err error
}

func (g *getWriter) line(b []byte) {
	if g.err == nil {
		_, g.err = g.w.Write(b)
	}
}

func (g *getWriter) uint(key string, v uint64) {
	b := append(g.buf[:0], key...)
	b = append(b, '=')
	b = strconv.AppendUint(b, v, 10)
	g.line(append(b, '\n'))
}

func (g *getWriter) str(key, v string) {
	b := append(g.buf[:0], key...)
	b = append(b, '=')
	b = append(b, v...)
	g.line(append(b, '\n'))
}

// key writes a key in lower-case hex and wipes the line buffer afterwards,
// since it may have held the private key.
func (g *getWriter) key(name string, k *[keyLen]byte) {
	const digits = "0123456789abcdef"
	b := append(g.buf[:0], name...)
	b = append(b, '=')
	for _, c := range k {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	g.line(append(b, '\n'))
	clear(g.buf[:])
}
