// SPDX-License-Identifier: MIT

package config

import (
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wgplex/wgplex/core"
)

// Format writes f in the layout of "wg showconf": the [Interface] keys
// that are set, an empty line, then the [Peer] sections separated by empty
// lines. wg-quick's keys follow the wg keys in [Interface]. A file made by
// FromSnapshot therefore formats byte for byte as wg(8) shows it, and
// parsing the output gives f back (comments and line numbers aside).
//
// The output contains the private and pre-shared keys in clear text.
func (f *File) Format(w io.Writer) error {
	var b bytes.Buffer
	defer func() { clear(b.Bytes()[:b.Cap()]) }()
	in := &f.Interface
	b.WriteString("[Interface]\n")
	if in.ListenPort != nil {
		fmt.Fprintf(&b, "ListenPort = %d\n", *in.ListenPort)
	}
	if in.FwMark != nil {
		if *in.FwMark == 0 {
			b.WriteString("FwMark = off\n")
		} else {
			fmt.Fprintf(&b, "FwMark = 0x%x\n", *in.FwMark)
		}
	}
	if in.PrivateKey != nil {
		b.WriteString("PrivateKey = ")
		b.WriteString(FormatKey(*in.PrivateKey))
		b.WriteByte('\n')
	}
	if len(in.Address) > 0 {
		addrs := make([]string, len(in.Address))
		for i, a := range in.Address {
			addrs[i] = FormatPrefix(a)
		}
		fmt.Fprintf(&b, "Address = %s\n", strings.Join(addrs, ", "))
	}
	if len(in.DNS)+len(in.DNSSearch) > 0 {
		var dns []string
		for _, a := range in.DNS {
			dns = append(dns, FormatAddr(a))
		}
		dns = append(dns, in.DNSSearch...)
		fmt.Fprintf(&b, "DNS = %s\n", strings.Join(dns, ", "))
	}
	if in.MTU != 0 {
		fmt.Fprintf(&b, "MTU = %d\n", in.MTU)
	}
	if in.Table != "" {
		fmt.Fprintf(&b, "Table = %s\n", in.Table)
	}
	for _, hook := range []struct {
		key  string
		cmds []string
	}{{"PreUp", in.PreUp}, {"PostUp", in.PostUp}, {"PreDown", in.PreDown}, {"PostDown", in.PostDown}} {
		for _, c := range hook.cmds {
			fmt.Fprintf(&b, "%s = %s\n", hook.key, c)
		}
	}
	if in.SaveConfig {
		b.WriteString("SaveConfig = true\n")
	}
	b.WriteByte('\n')
	for i := range f.Peers {
		p := &f.Peers[i]
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[Peer]\nPublicKey = %s\n", FormatKey(p.PublicKey))
		if p.PresharedKey != nil {
			b.WriteString("PresharedKey = ")
			b.WriteString(FormatKey(*p.PresharedKey))
			b.WriteByte('\n')
		}
		if len(p.AllowedIPs) > 0 {
			b.WriteString("AllowedIPs = ")
			for j, a := range p.AllowedIPs {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(FormatPrefix(a))
			}
			b.WriteByte('\n')
		}
		if p.Endpoint != "" {
			fmt.Fprintf(&b, "Endpoint = %s\n", p.Endpoint)
		}
		if p.PersistentKeepalive != nil {
			if *p.PersistentKeepalive == 0 {
				b.WriteString("PersistentKeepalive = off\n")
			} else {
				fmt.Fprintf(&b, "PersistentKeepalive = %d\n", *p.PersistentKeepalive)
			}
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// String returns the formatted file. It contains secrets; it is meant for
// tests and for writing the file, not for logs.
func (f *File) String() string {
	var b strings.Builder
	_ = f.Format(&b)
	return b.String()
}

// WriteFile writes f to path with mode 0600, through a temporary file in
// the same directory renamed into place, so that a reader never sees half
// a file and the keys are never readable by others, whatever the umask.
func WriteFile(path string, f *File) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := f.Format(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// FromSnapshot returns the configuration a running interface has, as "wg
// showconf" shows it: the listen port and fwmark when not zero, the private
// key when the interface reveals it, and for each peer its pre-shared key
// when set, allowed IPs, endpoint when known and keepalive when on.
func FromSnapshot(s core.Snapshot) *File {
	f := &File{}
	if s.ListenPort != 0 {
		port := s.ListenPort
		f.Interface.ListenPort = &port
	}
	if s.FwMark != 0 {
		mark := s.FwMark
		f.Interface.FwMark = &mark
	}
	if s.PrivateKey != nil && !s.PrivateKey.IsZero() {
		k := *s.PrivateKey
		f.Interface.PrivateKey = &k
	}
	for i := range s.Peers {
		sp := &s.Peers[i]
		p := Peer{PublicKey: sp.PublicKey, AllowedIPs: append([]netip.Prefix(nil), sp.AllowedIPs...)}
		if !sp.PresharedKey.IsZero() {
			psk := sp.PresharedKey
			p.PresharedKey = &psk
		}
		if sp.Endpoint.IsValid() {
			p.Endpoint = FormatAddrPort(sp.Endpoint)
		}
		if sp.PersistentKeepalive != 0 {
			ka := sp.PersistentKeepalive
			p.PersistentKeepalive = &ka
		}
		f.Peers = append(f.Peers, p)
	}
	return f
}

// FormatAddr writes an address the way the C library's inet_ntop does,
// which is how wg(8) prints addresses. It differs from netip's form only
// for IPv4-compatible IPv6 addresses (::a.b.c.d, where netip writes
// ::hhhh:hhhh). A zone is appended after '%'.
func FormatAddr(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		if isZero(b[:12]) && (b[12] != 0 || b[13] != 0) {
			s := "::" + netip.AddrFrom4([4]byte(b[12:])).String()
			if z := a.Zone(); z != "" {
				s += "%" + z
			}
			return s
		}
	}
	return a.String()
}

// FormatPrefix writes a prefix as wg(8) does: FormatAddr, '/', the length.
// Host bits are kept.
func FormatPrefix(p netip.Prefix) string {
	return FormatAddr(p.Addr()) + "/" + strconv.Itoa(p.Bits())
}

// FormatAddrPort writes an endpoint as wg(8) does: "a.b.c.d:port" or
// "[ipv6]:port".
func FormatAddrPort(ap netip.AddrPort) string {
	a := ap.Addr()
	port := strconv.Itoa(int(ap.Port()))
	if a.Is4() {
		return a.String() + ":" + port
	}
	return "[" + FormatAddr(a) + "]:" + port
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
