// SPDX-License-Identifier: MIT

package config

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// The value parsers below are shared by the file parser and by the
// command line ("wg set" takes the same values as the file), so that both
// accept exactly the same spellings. Their errors never quote key material.

// KeyLen is the length in bytes of every WireGuard key.
const KeyLen = 32

// keyLenBase64 is the length of a key in base64, padding included.
const keyLenBase64 = 44

// ErrKeyFormat is the error for a key that is not 44 characters of
// canonical base64. It does not quote the value, which may be a secret.
var ErrKeyFormat = errors.New("key is not the correct length or format (want 44 characters of base64)")

// ParseKey decodes a key in the base64 form wg(8) writes and reads: 44
// characters ending in '=', with the unused low bits of the last character
// zero. Hex is not accepted, as it is not in configuration files.
func ParseKey(s string) ([KeyLen]byte, error) {
	var k [KeyLen]byte
	if len(s) != keyLenBase64 || s[keyLenBase64-1] != '=' {
		return k, ErrKeyFormat
	}
	// Strict rejects non-zero padding bits, so that one key has one
	// spelling, as in wg.
	n, err := base64.StdEncoding.Strict().Decode(k[:], []byte(s))
	if err != nil || n != KeyLen {
		clear(k[:])
		return k, ErrKeyFormat
	}
	return k, nil
}

// FormatKey returns the base64 form of a key.
func FormatKey(k [KeyLen]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }

// ReadKey reads a key file as wg(8) does for "set ... private-key FILE":
// one base64 key, optionally followed by white space. An empty file (or
// /dev/null) yields the zero key, which removes the key it is set to.
func ReadKey(r io.Reader) ([KeyLen]byte, error) {
	var buf [keyLenBase64]byte
	defer clear(buf[:])
	n, err := io.ReadFull(r, buf[:])
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return [KeyLen]byte{}, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		return [KeyLen]byte{}, errors.New("invalid length key in key file")
	case err != nil:
		return [KeyLen]byte{}, err
	}
	br := bufio.NewReader(r)
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return [KeyLen]byte{}, err
		}
		if !isSpace(c) {
			return [KeyLen]byte{}, errors.New("found trailing characters in key file")
		}
	}
	return ParseKey(string(buf[:]))
}

// ReadKeyFile is ReadKey on the file at path.
func ReadKeyFile(path string) ([KeyLen]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [KeyLen]byte{}, err
	}
	defer f.Close()
	k, err := ReadKey(f)
	if err != nil {
		return k, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParsePort parses a UDP port number, 0 to 65535.
func ParsePort(s string) (uint16, error) {
	if s == "" || !isDigit(s[0]) {
		return 0, fmt.Errorf("port %s is not a number from 0 to 65535", quote(s))
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %s is not a number from 0 to 65535", quote(s))
	}
	return uint16(n), nil
}

// ParseFwMark parses a firewall mark: "off", a decimal number or a
// hexadecimal one with a "0x" prefix, up to 0xffffffff.
func ParseFwMark(s string) (uint32, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	bad := fmt.Errorf("fwmark %s is neither off nor a number from 0 to 0xffffffff", quote(s))
	if s == "" || !isDigit(s[0]) {
		return 0, bad
	}
	base, digits := 10, s
	if len(s) > 2 && s[0] == '0' && s[1] == 'x' {
		base, digits = 16, s[2:]
	}
	n, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, bad
	}
	return uint32(n), nil
}

// ParseKeepalive parses a persistent keepalive interval: "off" or a number
// of seconds from 0 to 65535.
func ParseKeepalive(s string) (uint16, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	if s == "" || !isDigit(s[0]) {
		return 0, fmt.Errorf("persistent keepalive %s is neither off nor a number from 0 to 65535", quote(s))
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("persistent keepalive %s is neither off nor a number from 0 to 65535", quote(s))
	}
	return uint16(n), nil
}

// ParseAllowedIPs parses a comma-separated list of prefixes with white
// space already removed. An address without a length stands for itself
// (/32 or /128). Host bits are kept as written. The empty string is the
// empty list.
func ParseAllowedIPs(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	var out []netip.Prefix
	for entry := range strings.SplitSeq(s, ",") {
		p, err := parsePrefix(entry)
		if err != nil {
			return nil, fmt.Errorf("allowed IP %s: %w", quote(entry), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix parses "addr" or "addr/len" as wg's config.c does: the
// family is decided by the presence of ':', and the length must be plain
// decimal digits within the family's range.
func parsePrefix(s string) (netip.Prefix, error) {
	addrPart, lenPart, hasLen := strings.Cut(s, "/")
	addr, err := parseAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, err
	}
	bits := addr.BitLen()
	if hasLen {
		if lenPart == "" || !isDigit(lenPart[0]) {
			return netip.Prefix{}, errors.New("prefix length is not a number")
		}
		n, err := strconv.ParseUint(lenPart, 10, 8)
		if err != nil || int(n) > addr.BitLen() {
			return netip.Prefix{}, fmt.Errorf("prefix length is not a number from 0 to %d", addr.BitLen())
		}
		bits = int(n)
	}
	return netip.PrefixFrom(addr, bits), nil
}

// parseAddr parses an IPv4 or IPv6 address without a zone.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || (strings.Contains(s, ":") != a.Is6()) {
		return netip.Addr{}, errors.New("not an IP address")
	}
	return a, nil
}

// SplitEndpoint splits "host:port", "ip:port" or "[ipv6]:port" into host
// and port, checking the port. As in wg(8), an unbracketed host is cut at
// the last colon, so "fd00::1:51820" is fd00::1 port 51820.
func SplitEndpoint(s string) (host, port string, err error) {
	if s == "" {
		return "", "", errors.New("empty endpoint")
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", "", fmt.Errorf("endpoint %s has no matching ']'", quote(s))
		}
		rest := s[end+1:]
		host = s[1:end]
		if len(rest) < 2 || rest[0] != ':' {
			return "", "", fmt.Errorf("endpoint %s has no port", quote(s))
		}
		port = rest[1:]
	} else {
		i := strings.LastIndexByte(s, ':')
		if i < 0 || i == len(s)-1 {
			return "", "", fmt.Errorf("endpoint %s has no port", quote(s))
		}
		host, port = s[:i], s[i+1:]
	}
	if host == "" {
		return "", "", fmt.Errorf("endpoint %s has no host", quote(s))
	}
	if _, err := ParsePort(port); err != nil {
		return "", "", fmt.Errorf("endpoint %s: %w", quote(s), err)
	}
	return host, port, nil
}

// isSpace is the white space of wg's config.c (C isspace in the "C" locale).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// quote renders a non-secret value for a message, cut short so that a
// message stays one readable line.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}
