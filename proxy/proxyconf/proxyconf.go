// SPDX-License-Identifier: MIT

// Package proxyconf reads the configuration file of "wgplex proxy": a
// wg-quick(8) file ([Interface] and [Peer]) plus the sections that say what
// the proxy offers on the host. The section and key names are wireproxy's,
// so that a wireproxy configuration file reads unchanged:
//
//	WGConfig = /path/to/wg0.conf        (before any section: take [Interface] and [Peer] from there)
//	[Socks5]          BindAddress, Username, Password
//	[http]            BindAddress, Username, Password
//	[TCPClientTunnel] BindAddress, Target   (a host port forwarded into the tunnel)
//	[TCPServerTunnel] ListenPort, Target    (a tunnel port forwarded to the host)
//	[UDPClientTunnel] BindAddress, Target
//	[UDPServerTunnel] ListenPort, Target
//	[STDIOTunnel]     Target                (standard input and output to a TCP target)
//
// As in wireproxy, section and key names are matched without regard to
// case, a value "$NAME" is taken from the environment variable NAME ("$$"
// escapes a leading '$'), [Interface] may carry CheckAlive and
// CheckAliveInterval, and a [Peer] without AllowedIPs routes everything
// (0.0.0.0/0 and ::/0). Everything from '#' on a line is a comment, as in
// wg-quick.
//
// Errors read "file:line: what is wrong" and never quote a key or a
// password. The package reads no file and no environment variable itself:
// the caller passes both in Options.
package proxyconf

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/core/config"
)

// MaxFileSize bounds the file; a proxy configuration is a few hundred
// bytes, a wg one with many peers a few megabytes.
const MaxFileSize = config.MaxFileSize

// File is a parsed proxy configuration.
type File struct {
	// Name is the file name errors are reported against.
	Name string
	// WG is the interface and its peers, from this file or from the file
	// WGConfig names.
	WG *config.File
	// WGConfig is the path WGConfig named, or "".
	WGConfig string
	// CheckAlive lists addresses wireproxy pings through the tunnel for its
	// readiness probe; read for compatibility.
	CheckAlive []netip.Addr
	// CheckAliveInterval is wireproxy's ping interval in seconds.
	CheckAliveInterval int

	// Socks5 and HTTP are the [Socks5] and [http] sections, in file order.
	Socks5 []Proxy
	HTTP   []Proxy
	// TCPClientTunnels and UDPClientTunnels listen on the host and forward
	// into the tunnel.
	TCPClientTunnels, UDPClientTunnels []ClientTunnel
	// TCPServerTunnels and UDPServerTunnels listen in the tunnel and
	// forward to the host.
	TCPServerTunnels, UDPServerTunnels []ServerTunnel
	// STDIOTunnels are the [STDIOTunnel] sections; only the first is
	// served, as a process has one standard input.
	STDIOTunnels []STDIOTunnel
}

// Proxy is a [Socks5] or [http] section.
type Proxy struct {
	// BindAddress is the host address to listen on ("127.0.0.1:1080").
	BindAddress string
	// Username and Password, when set (both are, or neither), are required
	// of every client. Password is a byte slice so that it can be wiped.
	Username string
	Password []byte
	// Line is the line of the section header.
	Line int
}

// ClientTunnel is a [TCPClientTunnel] or [UDPClientTunnel] section.
type ClientTunnel struct {
	// BindAddress is the host address to listen on.
	BindAddress string
	// Target is "host:port" inside the tunnel; a name is resolved with
	// the tunnel's DNS servers.
	Target string
	// Line is the line of the section header.
	Line int
}

// ServerTunnel is a [TCPServerTunnel] or [UDPServerTunnel] section.
type ServerTunnel struct {
	// ListenPort is the port on the interface's addresses.
	ListenPort uint16
	// Target is "host:port" on the host side; a name is resolved by the
	// host.
	Target string
	// Line is the line of the section header.
	Line int
}

// STDIOTunnel is a [STDIOTunnel] section.
type STDIOTunnel struct {
	// Target is "host:port" inside the tunnel.
	Target string
	// Line is the line of the section header.
	Line int
}

// Wipe clears the passwords; the keys of WG are the caller's to handle.
func (f *File) Wipe() {
	for _, ps := range [][]Proxy{f.Socks5, f.HTTP} {
		for i := range ps {
			clear(ps[i].Password)
		}
	}
}

// Options give the parser what it may not fetch itself.
type Options struct {
	// LookupEnv answers "$NAME" values; nil means no variable is set.
	LookupEnv func(name string) (string, bool)
	// ReadFile reads the file WGConfig names; nil refuses WGConfig.
	ReadFile func(path string) ([]byte, error)
}

// Error is a problem in a file, located by line.
type Error = config.Error

func errorf(file string, line int, format string, args ...any) error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// kind is a section of the file.
type kind int

const (
	kindNone kind = iota
	kindWG        // [Interface] or [Peer]: handed to core/config
	kindSocks5
	kindHTTP
	kindTCPClient
	kindTCPServer
	kindUDPClient
	kindUDPServer
	kindSTDIO
)

var sectionNames = []struct {
	name string
	kind kind
}{
	{"Interface", kindWG}, {"Peer", kindWG},
	{"Socks5", kindSocks5}, {"http", kindHTTP},
	{"TCPClientTunnel", kindTCPClient}, {"TCPServerTunnel", kindTCPServer},
	{"UDPClientTunnel", kindUDPClient}, {"UDPServerTunnel", kindUDPServer},
	{"STDIOTunnel", kindSTDIO},
}

// section collects one proxy section's keys before they are checked.
type section struct {
	kind  kind
	name  string
	line  int
	keys  map[string]string // lower-case key -> value
	lines map[string]int
}

// Parse reads a proxy configuration. Nothing is returned unless the whole
// file (and the file WGConfig names) is valid.
func Parse(name string, data []byte, o Options) (*File, error) {
	f, err := parse(name, data, o, true)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func parse(name string, data []byte, o Options, top bool) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, errorf(name, 0, "larger than %d bytes", MaxFileSize)
	}
	f := &File{Name: name, CheckAliveInterval: 5}
	// wg is the file as core/config sees it: the [Interface] and [Peer]
	// lines, every other line blank so that line numbers stay right.
	wg := make([]byte, 0, len(data))
	defer func() { clear(wg) }()
	var sections []*section
	cur := &section{kind: kindNone}
	haveWG, wgConfigLine := false, 0
	lineNo := 0
	peerHasAllowed := []bool{}
	checkAliveIntervalLine := 0
	for rest := data; len(rest) > 0; {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			raw, rest = rest[:i], rest[i+1:]
		} else {
			raw, rest = rest, nil
		}
		line := raw
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		trimmed := strings.TrimSpace(string(line))
		if strings.HasPrefix(trimmed, ";") {
			// go-ini's other comment marker, which wireproxy files may use.
			trimmed = ""
		}
		if trimmed == "" {
			wg = append(wg, '\n')
			continue
		}
		if trimmed[0] == '[' {
			if !strings.HasSuffix(trimmed, "]") {
				return nil, errorf(name, lineNo, "section header %q has no closing ]", short(trimmed))
			}
			h := strings.TrimSpace(trimmed[1 : len(trimmed)-1])
			cur = nil
			for _, s := range sectionNames {
				if strings.EqualFold(h, s.name) {
					cur = &section{kind: s.kind, name: s.name, line: lineNo, keys: map[string]string{}, lines: map[string]int{}}
				}
			}
			if cur == nil {
				return nil, errorf(name, lineNo, "unknown section [%s] (known: Interface, Peer, Socks5, http, TCPClientTunnel, TCPServerTunnel, UDPClientTunnel, UDPServerTunnel, STDIOTunnel)", short(h))
			}
			if cur.kind == kindWG {
				haveWG = true
				if strings.EqualFold(h, "Peer") {
					peerHasAllowed = append(peerHasAllowed, false)
				}
				wg = append(wg, "["+cur.name+"]\n"...)
				continue
			}
			if !top {
				return nil, errorf(name, lineNo, "[%s] belongs in the proxy configuration, not in the file WGConfig names", cur.name)
			}
			sections = append(sections, cur)
			wg = append(wg, '\n')
			continue
		}
		k, v, ok := strings.Cut(trimmed, "=")
		if !ok {
			return nil, errorf(name, lineNo, "line is neither a [section] nor key = value")
		}
		key := strings.TrimSpace(k)
		value, err := expand(strings.TrimSpace(v), o.LookupEnv)
		if err != nil {
			return nil, errorf(name, lineNo, "%s: %v", safeKey(key), err)
		}
		switch cur.kind {
		case kindNone:
			if !top || !strings.EqualFold(key, "WGConfig") {
				return nil, errorf(name, lineNo, "key %s outside a section (only WGConfig may stand there)", safeKey(key))
			}
			if f.WGConfig != "" {
				return nil, errorf(name, lineNo, "second WGConfig (first on line %d)", wgConfigLine)
			}
			if value == "" {
				return nil, errorf(name, lineNo, "WGConfig has no value")
			}
			f.WGConfig, wgConfigLine = value, lineNo
			wg = append(wg, '\n')
		case kindWG:
			switch {
			case strings.EqualFold(key, "CheckAlive"):
				for _, s := range strings.Split(value, ",") {
					if s = strings.TrimSpace(s); s == "" {
						continue
					}
					a, err := netip.ParseAddr(s)
					if err != nil {
						return nil, errorf(name, lineNo, "CheckAlive %q is not an IP address", short(s))
					}
					f.CheckAlive = append(f.CheckAlive, a)
				}
				wg = append(wg, '\n')
			case strings.EqualFold(key, "CheckAliveInterval"):
				n, err := strconv.Atoi(value)
				if err != nil || n < 1 || n > 86400 {
					return nil, errorf(name, lineNo, "CheckAliveInterval %q is not a number of seconds from 1 to 86400", short(value))
				}
				f.CheckAliveInterval, checkAliveIntervalLine = n, lineNo
				wg = append(wg, '\n')
			default:
				if strings.EqualFold(key, "AllowedIPs") && len(peerHasAllowed) > 0 {
					peerHasAllowed[len(peerHasAllowed)-1] = true
				}
				wg = append(wg, key+" = "+value+"\n"...)
			}
		default:
			lk := strings.ToLower(key)
			if prev, dup := cur.lines[lk]; dup {
				return nil, errorf(name, lineNo, "second %s in [%s] (first on line %d)", safeKey(key), cur.name, prev)
			}
			cur.keys[lk], cur.lines[lk] = value, lineNo
			wg = append(wg, '\n')
		}
	}
	if checkAliveIntervalLine != 0 && len(f.CheckAlive) == 0 {
		return nil, errorf(name, checkAliveIntervalLine, "CheckAliveInterval is only valid with CheckAlive")
	}
	if err := f.readWG(name, wg, haveWG, wgConfigLine, peerHasAllowed, o); err != nil {
		return nil, err
	}
	for _, s := range sections {
		if err := f.addSection(name, s); err != nil {
			f.Wipe()
			return nil, err
		}
	}
	return f, nil
}

// readWG parses the [Interface] and [Peer] part, or the file WGConfig
// names, and checks that there is an interface to run.
func (f *File) readWG(name string, wg []byte, haveWG bool, wgConfigLine int, peerHasAllowed []bool, o Options) error {
	if f.WGConfig != "" {
		if haveWG {
			return errorf(name, wgConfigLine, "WGConfig and an [Interface] or [Peer] section in one file: keep one of them")
		}
		if o.ReadFile == nil {
			return errorf(name, wgConfigLine, "WGConfig is not allowed here")
		}
		data, err := o.ReadFile(f.WGConfig)
		if err != nil {
			return &Error{File: name, Line: wgConfigLine, Msg: fmt.Sprintf("WGConfig: %v", err), Err: err}
		}
		defer clear(data)
		inc, err := parse(f.WGConfig, data, o, false)
		if err != nil {
			return err
		}
		f.WG, f.CheckAlive, f.CheckAliveInterval = inc.WG, inc.CheckAlive, inc.CheckAliveInterval
		return nil
	}
	wf, err := config.Parse(name, bytes.NewReader(wg))
	if err != nil {
		return err
	}
	for i := range wf.Peers {
		if !peerHasAllowed[i] {
			// wireproxy's rule: a peer without AllowedIPs takes everything.
			wf.Peers[i].AllowedIPs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		}
	}
	f.WG = wf
	return nil
}

// addSection checks one proxy section's keys and records it.
func (f *File) addSection(name string, s *section) error {
	allowed := map[kind][]string{
		kindSocks5:    {"bindaddress", "username", "password"},
		kindHTTP:      {"bindaddress", "username", "password"},
		kindTCPClient: {"bindaddress", "target"},
		kindUDPClient: {"bindaddress", "target"},
		kindTCPServer: {"listenport", "target"},
		kindUDPServer: {"listenport", "target"},
		kindSTDIO:     {"target"},
	}[s.kind]
	for k, line := range s.lines {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			return errorf(name, line, "unknown key %s in [%s]", safeKey(k), s.name)
		}
	}
	need := func(k, canon string) (string, error) {
		v, ok := s.keys[k]
		if !ok || v == "" {
			return "", errorf(name, s.line, "[%s] needs %s", s.name, canon)
		}
		return v, nil
	}
	hostPort := func(k, canon string, emptyHost bool) (string, error) {
		v, err := need(k, canon)
		if err != nil {
			return "", err
		}
		host, port, err := net.SplitHostPort(v)
		if err == nil && host == "" && !emptyHost {
			err = fmt.Errorf("no host")
		}
		if err == nil {
			_, err = strconv.ParseUint(port, 10, 16)
		}
		if err != nil {
			return "", errorf(name, s.lines[k], "%s %q is not host:port", canon, short(v))
		}
		return v, nil
	}
	switch s.kind {
	case kindSocks5, kindHTTP:
		bind, err := hostPort("bindaddress", "BindAddress", true)
		if err != nil {
			return err
		}
		p := Proxy{BindAddress: bind, Username: s.keys["username"], Line: s.line}
		pw, hasPW := s.keys["password"]
		if (p.Username == "") != (pw == "") {
			line := s.lines["username"]
			if hasPW {
				line = s.lines["password"]
			}
			return errorf(name, line, "[%s] needs both Username and Password, or neither", s.name)
		}
		if len(p.Username) > 255 || len(pw) > 255 {
			// SOCKS5 carries each in one length byte.
			return errorf(name, s.line, "[%s] Username and Password are at most 255 bytes each", s.name)
		}
		p.Password = []byte(pw)
		if s.kind == kindSocks5 {
			f.Socks5 = append(f.Socks5, p)
		} else {
			f.HTTP = append(f.HTTP, p)
		}
	case kindTCPClient, kindUDPClient:
		bind, err := hostPort("bindaddress", "BindAddress", true)
		if err != nil {
			return err
		}
		target, err := hostPort("target", "Target", false)
		if err != nil {
			return err
		}
		t := ClientTunnel{BindAddress: bind, Target: target, Line: s.line}
		if s.kind == kindTCPClient {
			f.TCPClientTunnels = append(f.TCPClientTunnels, t)
		} else {
			f.UDPClientTunnels = append(f.UDPClientTunnels, t)
		}
	case kindTCPServer, kindUDPServer:
		ps, err := need("listenport", "ListenPort")
		if err != nil {
			return err
		}
		port, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || port == 0 {
			return errorf(name, s.lines["listenport"], "ListenPort %q is not a port from 1 to 65535", short(ps))
		}
		target, err := hostPort("target", "Target", false)
		if err != nil {
			return err
		}
		t := ServerTunnel{ListenPort: uint16(port), Target: target, Line: s.line}
		if s.kind == kindTCPServer {
			f.TCPServerTunnels = append(f.TCPServerTunnels, t)
		} else {
			f.UDPServerTunnels = append(f.UDPServerTunnels, t)
		}
	case kindSTDIO:
		target, err := hostPort("target", "Target", false)
		if err != nil {
			return err
		}
		f.STDIOTunnels = append(f.STDIOTunnels, STDIOTunnel{Target: target, Line: s.line})
	}
	return nil
}

// expand applies wireproxy's "$NAME" rule to a value, and drops the
// double quotes around a quoted one.
func expand(v string, lookup func(string) (string, bool)) (string, error) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if !strings.HasPrefix(v, "$") {
		return v, nil
	}
	if strings.HasPrefix(v, "$$") {
		return v[1:], nil
	}
	name := v[1:]
	if lookup != nil {
		if val, ok := lookup(name); ok {
			return val, nil
		}
	}
	return "", fmt.Errorf("refers to the unset environment variable %s", short(name))
}

// safeKey quotes a key name unless it could be a secret that lost its '='.
func safeKey(k string) string {
	l := strings.ToLower(k)
	if len(k) > 24 || strings.HasPrefix(l, "privatekey") || strings.HasPrefix(l, "presharedkey") || strings.HasPrefix(l, "password") {
		return fmt.Sprintf("of %d characters", len(k))
	}
	return strconv.Quote(k)
}

// short bounds what a message quotes of the input.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
