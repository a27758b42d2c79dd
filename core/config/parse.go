// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/core"
)

// MaxFileSize bounds what Parse reads. A configuration with 50,000 peers is
// around 10 MiB; the bound only keeps a wrong path (a device, a log) from
// being read without end.
const MaxFileSize = 64 << 20

// ParseFile reads and parses the configuration file at path; errors are
// reported against path.
func ParseFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(path, f)
}

// Parse parses a configuration file read from r; name is what errors are
// reported against. The whole file is checked before anything is returned,
// so a caller that applies the result only on success changes nothing for
// a bad file.
func Parse(name string, r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &Error{File: name, Msg: err.Error()}
	}
	// The buffer may hold private keys; wipe it once parsed.
	defer clear(data)
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	p := parser{f: &File{Name: name}, seen: map[core.PublicKey]int{}}
	line := 0
	for len(data) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		p.lineNo = line
		if msg := p.line(line, l); msg != "" {
			return nil, &Error{File: name, Line: line, Msg: msg}
		}
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.f, nil
}

type section int

const (
	noSection section = iota
	interfaceSection
	peerSection
)

type parser struct {
	f       *File
	section section
	// peer is the index in f.Peers of the current [Peer]; an index
	// because appending may move the slice.
	peer int
	// seen maps each public key to the line that named it first, to
	// report duplicate peers.
	seen map[core.PublicKey]int
	// keyLine is, per peer, the line of its PublicKey (0 if none yet).
	keyLine []int
	// lineNo is the line being parsed.
	lineNo int
}

// line handles one line and returns what is wrong with it, if anything.
func (p *parser) line(n int, raw []byte) string {
	if i := bytes.IndexByte(raw, '#'); i >= 0 {
		raw = raw[:i]
	}
	// wg removes every white space character from a line it reads; its
	// keys and values never contain any.
	clean := make([]byte, 0, len(raw))
	for _, c := range raw {
		if !isSpace(c) {
			clean = append(clean, c)
		}
	}
	defer clear(clean)
	if len(clean) == 0 {
		return ""
	}
	if clean[0] == '[' {
		return p.header(n, string(clean))
	}
	k, v, ok := bytes.Cut(clean, []byte{'='})
	if !ok {
		return fmt.Sprintf("line is neither a [section] nor key = value (%d characters)", len(clean))
	}
	key := string(k)
	switch p.section {
	case interfaceSection:
		// wg-quick's keys are taken from the raw line so that the shell
		// commands keep their spaces.
		if msg, handled := p.quickKey(key, raw); handled {
			return msg
		}
		return p.interfaceKey(key, v)
	case peerSection:
		return p.peerKey(n, key, v)
	}
	return fmt.Sprintf("key %s outside an [Interface] or [Peer] section", quoteKey(key))
}

func (p *parser) header(n int, h string) string {
	switch {
	case strings.EqualFold(h, "[Interface]"):
		p.section = interfaceSection
	case strings.EqualFold(h, "[Peer]"):
		p.section = peerSection
		p.f.Peers = append(p.f.Peers, Peer{Line: n})
		p.keyLine = append(p.keyLine, 0)
		p.peer = len(p.f.Peers) - 1
	default:
		return fmt.Sprintf("unknown section %s", quote(h))
	}
	return ""
}

func (p *parser) interfaceKey(key string, v []byte) string {
	switch {
	case strings.EqualFold(key, "PrivateKey"):
		if len(v) == 0 {
			return "PrivateKey has no value"
		}
		k, err := ParseKey(string(v))
		if err != nil {
			return "PrivateKey: " + err.Error()
		}
		pk := core.PrivateKey(k)
		clear(k[:])
		p.f.Interface.PrivateKey = &pk
	case strings.EqualFold(key, "ListenPort"):
		port, err := ParsePort(string(v))
		if err != nil {
			return "ListenPort: " + err.Error()
		}
		p.f.Interface.ListenPort = &port
	case strings.EqualFold(key, "FwMark"):
		mark, err := ParseFwMark(string(v))
		if err != nil {
			return "FwMark: " + err.Error()
		}
		p.f.Interface.FwMark = &mark
	default:
		return fmt.Sprintf("unknown key %s in [Interface]", quoteKey(key))
	}
	return ""
}

func (p *parser) peerKey(n int, key string, v []byte) string {
	peer := &p.f.Peers[p.peer]
	if len(v) == 0 {
		// wg(8) rejects every empty value in a file.
		if isPeerKey(key) {
			return key + " has no value"
		}
		return fmt.Sprintf("unknown key %s in [Peer]", quoteKey(key))
	}
	switch {
	case strings.EqualFold(key, "PublicKey"):
		k, err := ParseKey(string(v))
		if err != nil {
			return "PublicKey: " + err.Error()
		}
		pub := core.PublicKey(k)
		if prev := p.keyLine[p.peer]; prev != 0 {
			return fmt.Sprintf("second PublicKey in one [Peer] section (first on line %d)", prev)
		}
		if first, dup := p.seen[pub]; dup {
			return fmt.Sprintf("duplicate peer %s (first on line %d)", pub.String(), first)
		}
		p.seen[pub] = n
		p.keyLine[p.peer] = n
		peer.PublicKey = pub
	case strings.EqualFold(key, "PresharedKey"):
		k, err := ParseKey(string(v))
		if err != nil {
			return "PresharedKey: " + err.Error()
		}
		psk := core.PresharedKey(k)
		clear(k[:])
		peer.PresharedKey = &psk
	case strings.EqualFold(key, "AllowedIPs"):
		ips, err := ParseAllowedIPs(string(v))
		if err != nil {
			return "AllowedIPs: " + err.Error()
		}
		peer.AllowedIPs = append(peer.AllowedIPs, ips...)
	case strings.EqualFold(key, "Endpoint"):
		if _, _, err := SplitEndpoint(string(v)); err != nil {
			return "Endpoint: " + err.Error()
		}
		peer.Endpoint = string(v)
		peer.endpointLine = n
	case strings.EqualFold(key, "PersistentKeepalive"):
		secs, err := ParseKeepalive(string(v))
		if err != nil {
			return "PersistentKeepalive: " + err.Error()
		}
		peer.PersistentKeepalive = &secs
	default:
		return fmt.Sprintf("unknown key %s in [Peer]", quoteKey(key))
	}
	return ""
}

// quoteKey quotes a key name for a message, unless it may hold a secret:
// with white space removed, "PrivateKey SECRET" (no '=') reads as one long
// key name, so a name that starts like a secret key or is longer than any
// real key is described rather than quoted.
func quoteKey(key string) string {
	const longest = 24
	lower := strings.ToLower(key)
	if len(key) > longest || strings.HasPrefix(lower, "privatekey") || strings.HasPrefix(lower, "presharedkey") {
		return fmt.Sprintf("of %d characters", len(key))
	}
	return quote(key)
}

func isPeerKey(key string) bool {
	for _, k := range []string{"PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"} {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// dnsServerPattern is how wg-quick tells a DNS server from a search
// domain: digits and dots, or anything with a colon.
var dnsServerPattern = regexp.MustCompile(`^[0-9.]+$|:`)

// quickKey handles the keys wg-quick(8) takes out of [Interface] before
// the rest goes to wg(8). It reports handled=false for any other key. As
// in wg-quick, the value is everything after the first '=' with the ends
// trimmed, and an empty value is no value at all (except for SaveConfig,
// which must be true or false).
func (p *parser) quickKey(key string, raw []byte) (msg string, handled bool) {
	kind := quickKeyName(key)
	if kind == "" {
		return "", false
	}
	if p.f.quickLine == 0 {
		p.f.quickLine, p.f.quickKey = p.lineNo, kind
	}
	_, v, _ := bytes.Cut(raw, []byte{'='})
	value := strings.TrimFunc(string(v), func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	in := &p.f.Interface
	switch kind {
	case "Address":
		for _, a := range splitList(value) {
			pfx, err := parsePrefix(a)
			if err != nil {
				return fmt.Sprintf("Address %s: %v", quote(a), err), true
			}
			in.Address = append(in.Address, pfx)
		}
	case "DNS":
		for _, d := range splitList(value) {
			if !dnsServerPattern.MatchString(d) {
				in.DNSSearch = append(in.DNSSearch, d)
				continue
			}
			addr, err := netip.ParseAddr(d)
			if err != nil {
				return fmt.Sprintf("DNS %s is not an IP address", quote(d)), true
			}
			in.DNS = append(in.DNS, addr)
		}
	case "MTU":
		if value == "" {
			return "", true
		}
		mtu, err := strconv.ParseUint(value, 10, 32)
		if err != nil || mtu < 68 || mtu > 65535 {
			return fmt.Sprintf("MTU %s is not a number from 68 to 65535", quote(value)), true
		}
		in.MTU = int(mtu)
	case "Table":
		if value == "" {
			return "", true
		}
		if err := checkTable(value); err != nil {
			return "Table: " + err.Error(), true
		}
		in.Table = value
	case "PreUp":
		in.PreUp = appendCommand(in.PreUp, value)
	case "PostUp":
		in.PostUp = appendCommand(in.PostUp, value)
	case "PreDown":
		in.PreDown = appendCommand(in.PreDown, value)
	case "PostDown":
		in.PostDown = appendCommand(in.PostDown, value)
	case "SaveConfig":
		switch {
		case strings.EqualFold(value, "true"):
			in.SaveConfig = true
		case strings.EqualFold(value, "false"):
			in.SaveConfig = false
		default:
			return fmt.Sprintf("SaveConfig %s is neither true nor false", quote(value)), true
		}
	}
	return "", true
}

// quickKeyName returns the canonical spelling of a wg-quick key, "" if key
// is not one.
func quickKeyName(key string) string {
	for _, k := range []string{"Address", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig"} {
		if strings.EqualFold(key, k) {
			return k
		}
	}
	return ""
}

// appendCommand adds a hook command; an empty one would run nothing, so it
// is dropped.
func appendCommand(list []string, cmd string) []string {
	if cmd == "" {
		return list
	}
	return append(list, cmd)
}

// splitList splits a wg-quick list: entries separated by commas, white
// space or both.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || (r < 0x80 && isSpace(byte(r))) })
}

// checkTable accepts what wg-quick and ip(8) accept for Table: auto, off,
// a table number, or a table name.
func checkTable(s string) error {
	if strings.EqualFold(s, TableAuto) || strings.EqualFold(s, TableOff) {
		return nil
	}
	if isDigit(s[0]) {
		if _, err := strconv.ParseUint(s, 10, 32); err != nil {
			return fmt.Errorf("table number %s is not from 0 to 4294967295", quote(s))
		}
		return nil
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c == '-' || c == '.' || isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return fmt.Errorf("%s is neither auto, off, a number nor a table name", quote(s))
		}
	}
	return nil
}

// finish checks what can only be checked once the whole file is read.
func (p *parser) finish() error {
	for i := range p.f.Peers {
		if p.keyLine[i] == 0 {
			return &Error{File: p.f.Name, Line: p.f.Peers[i].Line, Msg: "[Peer] section has no PublicKey"}
		}
	}
	return nil
}

// ErrUnresolved is wrapped by the *Error for an endpoint that could not be
// looked up, so that a caller can tell it (worth retrying) from a malformed
// file with errors.Is.
var ErrUnresolved = errors.New("cannot resolve endpoint")

// endpointError locates an endpoint problem in the file.
func (f *File) endpointError(p *Peer, err error) error {
	line := p.endpointLine
	if line == 0 {
		line = p.Line
	}
	return &Error{File: f.Name, Line: line, Msg: fmt.Sprintf("cannot resolve endpoint %s: %v", quote(p.Endpoint), err),
		Err: fmt.Errorf("%w: %w", ErrUnresolved, err)}
}

// WGOnly fails, naming the first offending line, if f sets a key that only
// wg-quick(8) understands: wg(8)'s setconf, addconf and syncconf reject such
// a file, and so do wgplex's.
func (f *File) WGOnly() error {
	if f.quickLine == 0 {
		return nil
	}
	return &Error{File: f.Name, Line: f.quickLine,
		Msg: fmt.Sprintf("%s is a wg-quick(8) key, not a wg(8) one (wgplex up takes this file)", f.quickKey)}
}
