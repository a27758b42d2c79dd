// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/wgplex/wgplex/core"
)

// MaxLineLen bounds one request line, terminator included. The longest
// legitimate line (an IPv6 endpoint with a zone) is under 100 bytes; the
// bound only stops a client from making the server buffer without end.
const MaxLineLen = 4 << 10

var errLineTooLong = errors.New("request line too long")

// readLine reads one '\n'-terminated line into *scratch and returns it
// without its terminator (a "\r\n" ending is accepted too, as the reference
// implementation accepts it in set bodies) and the number of bytes consumed.
// It fails with io.EOF when the stream ends cleanly before the line,
// io.ErrUnexpectedEOF when it ends inside one, and errLineTooLong once more
// than MaxLineLen bytes arrive without a newline; it never reads much past
// that bound.
func readLine(r *bufio.Reader, scratch *[]byte) ([]byte, int, error) {
	buf := (*scratch)[:0]
	for {
		frag, err := r.ReadSlice('\n')
		if len(buf)+len(frag) > MaxLineLen {
			return nil, len(buf) + len(frag), errLineTooLong
		}
		buf = append(buf, frag...)
		switch {
		case err == nil:
			*scratch = buf
			n := len(buf)
			buf = buf[:n-1]
			if len(buf) > 0 && buf[len(buf)-1] == '\r' {
				buf = buf[:len(buf)-1]
			}
			return buf, n, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			*scratch = buf
			if len(buf) == 0 {
				return nil, 0, io.EOF
			}
			return nil, len(buf), io.ErrUnexpectedEOF
		default:
			*scratch = buf
			return nil, len(buf), err
		}
	}
}

// lineError turns a framing failure from readLine into the Error that ends
// the connection.
func lineError(err error) *Error {
	switch {
	case errors.Is(err, errLineTooLong):
		return fatalError(errnoMsgSize, "%w (limit %d bytes)", errLineTooLong, MaxLineLen)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fatalError(errnoProto, "request truncated: stream ended before the empty line")
	default:
		return &Error{Errno: errnoIO, Err: fmt.Errorf("read request: %w", err), fatal: true}
	}
}

// ParseSet reads the body of a set=1 request — key=value lines up to and
// including the empty line — into a change set. It applies nothing. It is
// ParseSetFor without a tunnel to count peers against: every peer that
// the request adds counts toward core.MaxPeers.
func ParseSet(r *bufio.Reader) (core.Config, error) { return ParseSetFor(r, nil) }

// ParseSetFor is ParseSet with the peer limit applied against the peers
// that pc (the tunnel) has already.
//
// After the first bad line it keeps reading, without storing anything, up to
// the empty line, so that the next request on the connection is framed
// correctly; the first error is returned. A request that passes a limit —
// more peers than core.MaxPeers would allow, more than MaxAllowedIPsPerPeer
// allowed IPs for one peer — is refused the same way at the line that
// passes it (ENOSPC), and what was parsed is dropped at once. A stream that
// ends before the empty line, an over-long line or a request over MaxSetLen
// fails at once. Errors are *Error values carrying the errno to report; they
// name the limit that was passed.
//
// Memory: what is held while reading is the change set itself, in arenas
// that are filled rather than grown (see arena), and one line; values are
// parsed from the line buffer without copying the line, so a request makes
// a few hundred allocations whatever its size. While reading, that is about
// 1.1 times the bytes read for peers with an endpoint and an allowed IP
// (130 bytes each on the wire) and 1.4 times for bare public_key lines (76
// bytes). The last step lays the peers out as the one slice core.Config
// has and briefly holds them twice: everything a request allocates comes
// to 2.2 and 2.75 times its size in those two cases.
func ParseSetFor(r *bufio.Reader, pc PeerCounter) (core.Config, error) {
	cfg, _, err := parseSet(r, pc)
	return cfg, err
}

// parseSet is ParseSetFor that also returns how many bytes it read.
func parseSet(r *bufio.Reader, pc PeerCounter) (core.Config, int, error) {
	var (
		p        = setParser{counter: pc}
		scratch  []byte
		total    int
		firstErr *Error
	)
	// The line buffer may end up holding a private_key line.
	defer func() { clear(scratch[:cap(scratch)]) }()
	for {
		line, n, err := readLine(r, &scratch)
		total += n
		if err != nil {
			p.drop()
			return core.Config{}, total, lineError(err)
		}
		if total > MaxSetLen {
			p.drop()
			return core.Config{}, total, fatalError(errnoMsgSize, "set request larger than %d bytes (the limit for %d peers)", MaxSetLen, core.MaxPeers)
		}
		if len(line) == 0 {
			break
		}
		if firstErr != nil {
			continue
		}
		if e := p.line(line); e != nil {
			firstErr = e
			p.drop() // nothing of it may be applied
		}
	}
	if firstErr == nil {
		firstErr = p.endPeer()
	}
	if firstErr != nil {
		p.drop()
		return core.Config{}, total, firstErr
	}
	p.cfg.Peers = p.arena.take()
	return p.cfg, total, nil
}

// setParser accumulates a change set line by line. Device keys are accepted
// only before the first public_key line; after it every key belongs to the
// current peer, as in the reference implementation.
type setParser struct {
	cfg   core.Config // all but Peers, which are in arena until the end
	arena arena
	// peer is the peer being configured, nil before the first public_key.
	peer *core.PeerConfig
	// counter and adds apply the peer limit: adds counts the sections
	// that add a peer (neither remove nor update_only, and not naming a
	// configured peer); a key named twice counts twice, so a request that
	// repeats a new peer may be refused here a little early.
	counter PeerCounter
	adds    int
	// existing says whether the current peer is configured already.
	existing bool
}

// drop forgets everything parsed, wiping the preshared keys, so that a
// refused request holds no memory while the rest of it is skimmed.
func (p *setParser) drop() {
	p.arena.wipe()
	WipeConfig(&p.cfg)
	*p = setParser{counter: p.counter}
}

// endPeer accounts for the peer section that just ended and refuses the
// request if the peers it adds no longer fit.
func (p *setParser) endPeer() *Error {
	if p.peer == nil || p.peer.Remove || p.peer.UpdateOnly || p.existing {
		return nil
	}
	p.adds++
	have := 0
	if p.counter != nil && !p.cfg.ReplacePeers {
		have = p.counter.PeerCount()
	}
	if have+p.adds > core.MaxPeers {
		return newError(errnoNoSpace, "too many peers: the request adds %d to %d, more than the limit of %d peers (core.MaxPeers)", p.adds, have, core.MaxPeers)
	}
	return nil
}

func (p *setParser) line(line []byte) *Error {
	k, v, ok := bytes.Cut(line, []byte{'='})
	if !ok {
		// Not echoed: it could be a key line missing its '='.
		return newError(errnoProto, "line of %d bytes has no '='", len(line))
	}
	// value is a view of the line buffer, not a copy: it is valid only
	// during this call, and nothing that keeps it may be built from it
	// (quote copies; netip clones a zone it keeps).
	key, value := string(k), unsafeString(v)
	if key == "public_key" {
		pk, err := parseHexKey(value)
		if err != nil {
			return newError(errnoInvalid, "invalid public_key: %v", err)
		}
		if e := p.endPeer(); e != nil {
			return e
		}
		p.peer = p.arena.newPeer(core.PublicKey(pk))
		// With replace_peers every configured peer named again is kept,
		// and counts, as the core counts it.
		p.existing = p.counter != nil && !p.cfg.ReplacePeers && p.counter.HasPeer(p.peer.PublicKey)
		return nil
	}
	if p.peer == nil {
		return p.deviceLine(key, value)
	}
	return p.peerLine(p.peer, key, value)
}

// unsafeString views b as a string without copying it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (p *setParser) deviceLine(key, value string) *Error {
	switch key {
	case "private_key":
		k, err := parseHexKey(value)
		if err != nil {
			return newError(errnoInvalid, "invalid private_key: %v", err)
		}
		// An all-zero key is passed through as is: the core reads a pointer
		// to the zero key as "remove the key".
		pk := core.PrivateKey(k)
		p.cfg.PrivateKey = &pk
		clear(k[:])
	case "listen_port":
		port, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return newError(errnoInvalid, "invalid listen_port %s", quote(value))
		}
		u := uint16(port)
		p.cfg.ListenPort = &u
	case "fwmark":
		// Empty means "no mark", like 0.
		var mark uint64
		if value != "" {
			var err error
			mark, err = strconv.ParseUint(value, 10, 32)
			if err != nil {
				return newError(errnoInvalid, "invalid fwmark %s", quote(value))
			}
		}
		u := uint32(mark)
		p.cfg.FwMark = &u
	case "replace_peers":
		if value != "true" {
			return newError(errnoInvalid, "replace_peers must be true, got %s", quote(value))
		}
		p.cfg.ReplacePeers = true
	default:
		return newError(errnoInvalid, "unknown device key %s", quote(key))
	}
	return nil
}

func (p *setParser) peerLine(peer *core.PeerConfig, key, value string) *Error {
	switch key {
	case "remove":
		if value != "true" {
			return newError(errnoInvalid, "remove must be true, got %s", quote(value))
		}
		peer.Remove = true
	case "update_only":
		if value != "true" {
			return newError(errnoInvalid, "update_only must be true, got %s", quote(value))
		}
		peer.UpdateOnly = true
	case "preshared_key":
		k, err := parseHexKey(value)
		if err != nil {
			return newError(errnoInvalid, "invalid preshared_key: %v", err)
		}
		p.arena.psk(peer, &k)
		clear(k[:])
	case "endpoint":
		// wg(8) resolves host names itself and sends a numeric address;
		// IPv6 may carry a zone ("[fe80::1%eth0]:51820").
		ap, err := netip.ParseAddrPort(value)
		if err != nil {
			return newError(errnoInvalid, "invalid endpoint %s", quote(value))
		}
		p.arena.endpoint(peer, ap)
	case "persistent_keepalive_interval":
		secs, err := strconv.ParseUint(value, 10, 16)
		if err != nil {
			return newError(errnoInvalid, "invalid persistent_keepalive_interval %s", quote(value))
		}
		p.arena.keepalive(peer, uint16(secs))
	case "replace_allowed_ips":
		if value != "true" {
			return newError(errnoInvalid, "replace_allowed_ips must be true, got %s", quote(value))
		}
		// The protocol clears the list at this point of the stream, so the
		// changes listed before it would be wiped anyway; dropping them keeps
		// the change set's "clear first, then apply" order equivalent.
		peer.ReplaceAllowedIPs = true
		p.arena.resetIPs(peer)
	case "allowed_ip":
		s, remove := value, false
		if len(s) > 0 && s[0] == '-' {
			s, remove = s[1:], true
		}
		// Host bits may be set ("10.0.0.1/24"): the reference accepts that
		// and the core masks the prefix.
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return newError(errnoInvalid, "invalid allowed_ip %s", quote(value))
		}
		if len(peer.AllowedIPs) >= MaxAllowedIPsPerPeer {
			return newError(errnoNoSpace, "too many allowed IPs for peer %s: more than the limit of %d per peer in one request (MaxAllowedIPsPerPeer)", peer.PublicKey.Short(), MaxAllowedIPsPerPeer)
		}
		p.arena.addIP(peer, core.AllowedIPChange{Prefix: prefix, Remove: remove})
	case "protocol_version":
		if value != "1" {
			return newError(errnoInvalid, "unsupported protocol_version %s", quote(value))
		}
		peer.ProtocolVersion = 1
	default:
		return newError(errnoInvalid, "unknown peer key %s", quote(key))
	}
	return nil
}

// keyLen is the size of every WireGuard key.
const keyLen = len(core.PublicKey{})

// parseHexKey decodes the 64-hex-digit form the protocol uses for every key
// (either case, as the reference accepts). Base64 is not accepted here,
// unlike in configuration files. It decodes in place rather than through
// encoding/hex so that no copy of a secret is left behind on the heap, and
// its error never quotes the input.
func parseHexKey(s string) ([keyLen]byte, error) {
	var k [keyLen]byte
	if len(s) != 2*keyLen {
		return k, fmt.Errorf("want %d hex digits, got %d characters", 2*keyLen, len(s))
	}
	for i := range k {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			clear(k[:])
			return k, errors.New("not hexadecimal")
		}
		k[i] = hi<<4 | lo
	}
	return k, nil
}

func fromHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// quote renders a non-secret value for an error message, cut short so that
// a hostile client cannot make log lines arbitrarily long.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}
