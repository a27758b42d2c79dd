// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgplex/wgplex/core"
)

// Client speaks the protocol to one interface's daemon, the way wg(8)
// does, so it works against any userspace implementation: wgplex,
// wireguard-go, or another that follows the cross-platform protocol.
// It dials DefaultSocketDir/IFNAME.sock on Unix and the named pipe
// PipeDir\IFNAME on Windows.
//
// Requests go over one connection, one after the other. After a failed
// request the connection is dropped and the next request dials again,
// since a daemon that stopped reading a set request half way leaves the
// stream out of step. A Client is not safe for concurrent use.
type Client struct {
	path string
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// DialPath connects to the daemon serving the socket at path. Like wg(8),
// it refuses a path that is not a socket (EBADF) and reports a missing one
// as ENOENT, both as *os.PathError.
func DialPath(path string) (*Client, error) {
	c := &Client{path: path}
	if err := c.dial(); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn, c.r, c.w = nil, nil, nil
	return err
}

// request runs one request, dialling first if the last one failed, and
// drops the connection if this one fails.
func (c *Client) request(do func() error) error {
	if c.conn == nil {
		if err := c.dial(); err != nil {
			return err
		}
	}
	if err := do(); err != nil {
		c.Close()
		return err
	}
	return nil
}

// Get reads the interface's configuration and counters. The snapshot's
// PublicKey is derived from the private key when the daemon reports one
// (the protocol does not carry the public key), and its peers are in the
// order the daemon listed them. Keys the client does not know are skipped,
// so that a newer daemon can add fields.
func (c *Client) Get() (core.Snapshot, error) {
	var s core.Snapshot
	err := c.request(func() error {
		if _, err := c.w.WriteString("get=1\n\n"); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		var err error
		s, err = readGet(c.r)
		return err
	})
	return s, err
}

// GetExtended is Get that also returns the daemon's extension lines
// (device-level keys starting with "wgplex_" that wg(8) skips, such as
// PluginExtension), in the order they came.
func (c *Client) GetExtended() (core.Snapshot, []Extension, error) {
	var s core.Snapshot
	var ext []Extension
	err := c.request(func() error {
		if _, err := c.w.WriteString("get=1\n\n"); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		ext = ext[:0]
		var err error
		s, err = readGetExt(c.r, &ext)
		return err
	})
	return s, ext, err
}

// Set sends cfg as one set=1 request. A request the daemon rejects comes
// back as an *Error carrying the (positive) errno it answered with; its
// Err is the matching syscall.Errno, whose text is what wg(8) prints.
func (c *Client) Set(cfg core.Config) error {
	if cfg.KeyStore != nil {
		return ErrKeyStoreNotSendable
	}
	return c.request(func() error {
		if _, err := c.w.WriteString("set=1\n"); err != nil {
			return err
		}
		if err := WriteSet(c.w, cfg); err != nil {
			return err
		}
		if err := c.w.WriteByte('\n'); err != nil {
			return err
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		var scratch []byte
		line, _, err := readLine(c.r, &scratch)
		if err != nil {
			return protoError("reading the reply to set: %v", err)
		}
		code, err := parseErrnoLine(line)
		if err != nil {
			return err
		}
		if blank, _, err := readLine(c.r, &scratch); err != nil || len(blank) != 0 {
			return protoError("reply to set not ended by an empty line")
		}
		return errnoError(code)
	})
}

// readGet parses the reply to get=1 up to and including "errno=N" and the
// empty line after it.
func readGet(r *bufio.Reader) (core.Snapshot, error) { return readGetExt(r, nil) }

// readGetExt is readGet that collects extension lines into ext, if not nil.
func readGetExt(r *bufio.Reader, ext *[]Extension) (core.Snapshot, error) {
	var (
		s       core.Snapshot
		peer    *core.PeerSnapshot
		scratch []byte
		hsSec   int64
		hsNsec  int64
	)
	defer func() { clear(scratch[:cap(scratch)]) }()
	// The handshake time arrives as two lines; fold it into the peer once
	// both may have been seen, i.e. when the next peer starts or at the end.
	flush := func() {
		if peer != nil && (hsSec != 0 || hsNsec != 0) {
			peer.LastHandshake = time.Unix(hsSec, hsNsec)
		}
		hsSec, hsNsec = 0, 0
	}
	for {
		line, _, err := readLine(r, &scratch)
		if err != nil {
			return core.Snapshot{}, protoError("reading the reply to get: %v", err)
		}
		if len(line) == 0 {
			return core.Snapshot{}, protoError("reply to get has an empty line before errno")
		}
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			return core.Snapshot{}, protoError("reply line of %d bytes has no '='", len(line))
		}
		if k == "errno" {
			code, err := parseErrnoLine(line)
			if err != nil {
				return core.Snapshot{}, err
			}
			if blank, _, err := readLine(r, &scratch); err != nil || len(blank) != 0 {
				return core.Snapshot{}, protoError("reply to get not ended by an empty line")
			}
			if err := errnoError(code); err != nil {
				return core.Snapshot{}, err
			}
			flush()
			return s, nil
		}
		if k == "public_key" {
			flush()
			key, err := parseHexKey(v)
			if err != nil {
				return core.Snapshot{}, protoError("bad public_key in reply: %v", err)
			}
			s.Peers = append(s.Peers, core.PeerSnapshot{PublicKey: core.PublicKey(key), ProtocolVersion: 1})
			peer = &s.Peers[len(s.Peers)-1]
			continue
		}
		if peer == nil && ext != nil && k != PublicKeyExtension && strings.HasPrefix(k, extensionPrefix) {
			// Bounded: a daemon cannot grow the client without limit.
			if len(*ext) < maxExtensions {
				*ext = append(*ext, Extension{Key: k, Value: v})
			}
			continue
		}
		if err := getLine(&s, peer, k, v, &hsSec, &hsNsec); err != nil {
			return core.Snapshot{}, err
		}
	}
}

// getLine stores one key=value line of a get reply. Device keys count only
// before the first peer, as wg(8) reads them.
func getLine(s *core.Snapshot, peer *core.PeerSnapshot, k, v string, hsSec, hsNsec *int64) error {
	num := func(bits int) (uint64, error) {
		if v == "" || v[0] < '0' || v[0] > '9' {
			return 0, protoError("bad %s in reply", k)
		}
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return 0, protoError("bad %s in reply", k)
		}
		return n, nil
	}
	if peer == nil {
		switch k {
		case "private_key":
			key, err := parseHexKey(v)
			if err != nil {
				return protoError("bad private_key in reply")
			}
			pk := core.PrivateKey(key)
			clear(key[:])
			s.PrivateKey = &pk
			s.PublicKey = pk.PublicKey()
		case PublicKeyExtension:
			key, err := parseHexKey(v)
			if err != nil {
				return protoError("bad %s in reply", PublicKeyExtension)
			}
			s.PublicKey = core.PublicKey(key)
		case "listen_port":
			n, err := num(16)
			if err != nil {
				return err
			}
			s.ListenPort = uint16(n)
		case "fwmark":
			n, err := num(32)
			if err != nil {
				return err
			}
			s.FwMark = uint32(n)
		}
		return nil
	}
	switch k {
	case "preshared_key":
		key, err := parseHexKey(v)
		if err != nil {
			return protoError("bad preshared_key in reply")
		}
		peer.PresharedKey = core.PresharedKey(key)
		clear(key[:])
	case "endpoint":
		ap, err := netip.ParseAddrPort(v)
		if err != nil {
			return protoError("bad endpoint %s in reply", quote(v))
		}
		peer.Endpoint = ap
	case "persistent_keepalive_interval":
		n, err := num(16)
		if err != nil {
			return err
		}
		peer.PersistentKeepalive = uint16(n)
	case "allowed_ip":
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return protoError("bad allowed_ip %s in reply", quote(v))
		}
		peer.AllowedIPs = append(peer.AllowedIPs, p)
	case "last_handshake_time_sec":
		n, err := num(63)
		if err != nil {
			return err
		}
		*hsSec = int64(n)
	case "last_handshake_time_nsec":
		n, err := num(63)
		if err != nil {
			return err
		}
		*hsNsec = int64(n)
	case "rx_bytes":
		n, err := num(64)
		if err != nil {
			return err
		}
		peer.RxBytes = n
	case "tx_bytes":
		n, err := num(64)
		if err != nil {
			return err
		}
		peer.TxBytes = n
	case "protocol_version":
		n, err := num(32)
		if err != nil {
			return err
		}
		peer.ProtocolVersion = int(n)
	}
	return nil
}

// parseErrnoLine reads "errno=N". Daemons send the code negated
// ("errno=-22"); a positive one is taken as is.
func parseErrnoLine(line []byte) (int64, error) {
	v, ok := strings.CutPrefix(string(line), "errno=")
	if !ok {
		return 0, protoError("expected errno line, got %d bytes", len(line))
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, protoError("bad errno %s", quote(v))
	}
	if n < 0 {
		n = -n
	}
	return n, nil
}

// errnoError turns a reply's errno into the error Set and Get return.
func errnoError(code int64) error {
	if code == 0 {
		return nil
	}
	return &Error{Errno: code, Err: syscall.Errno(code)}
}

// protoError is a reply this client cannot read.
func protoError(format string, args ...any) error {
	return &Error{Errno: errnoProto, Err: fmt.Errorf(format, args...)}
}
