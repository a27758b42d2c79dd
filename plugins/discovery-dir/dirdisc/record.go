// SPDX-License-Identifier: MIT

package dirdisc

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/plugins/sdk"
)

// FileSuffix is the suffix of the files the plugin reads; other files in
// the directory (and every file whose name starts with a dot) are ignored.
const FileSuffix = ".conf"

// MaxFileSize bounds a peer file; one [Peer] section is a few hundred
// bytes, and a large file in the directory is a mistake.
const MaxFileSize = 64 << 10

// directive is the comment prefix of the lines that carry what a [Peer]
// section has no key for. wg(8) and wg-quick(8) see comments, so a peer
// file stays a valid [Peer] section for them.
const directive = "#wgplex:"

// ParseRecordFile reads one peer file: exactly one [Peer] section, parsed
// as wg(8) would, plus optional directive comments:
//
//	#wgplex: Name = host-3
//	#wgplex: Endpoints = 192.0.2.3:51820, [2001:db8::3]:51820
//	#wgplex: PresharedKeyRef = fleet-a
//	#wgplex: Signed = V0dGUgE...
//
// Endpoints adds endpoints after the section's Endpoint. A PresharedKey
// line is refused: the directory is shared by every node, so the key
// would be too; name it with PresharedKeyRef and put it in each daemon's
// PSK directory. Signed carries the node's signed fleet record in
// base64, unchanged. name is the file's name, used for errors and as the
// record's name unless a Name directive gives one.
func ParseRecordFile(name string, data []byte) (sdk.Record, error) {
	var r sdk.Record
	if len(data) > MaxFileSize {
		return r, fmt.Errorf("%s: larger than %d bytes", name, MaxFileSize)
	}
	f, err := config.Parse(name, bytes.NewReader(data))
	if err != nil {
		return r, err
	}
	in := &f.Interface
	if in.PrivateKey != nil || in.ListenPort != nil || in.FwMark != nil || in.HasQuickKeys() {
		return r, fmt.Errorf("%s: has an [Interface] section; a peer file holds one [Peer] section", name)
	}
	if len(f.Peers) != 1 {
		return r, fmt.Errorf("%s: %d [Peer] sections, want exactly one", name, len(f.Peers))
	}
	p := &f.Peers[0]
	if p.PresharedKey != nil {
		return r, fmt.Errorf("%s: PresharedKey in a shared file; name the key with %q instead", name, directive+" PresharedKeyRef = NAME")
	}
	r = sdk.Record{
		PublicKey:  sdk.Key(p.PublicKey),
		Name:       strings.TrimSuffix(filepath.Base(name), FileSuffix),
		AllowedIPs: p.AllowedIPs,
	}
	if p.Endpoint != "" {
		r.Endpoints = append(r.Endpoints, p.Endpoint)
	}
	if p.PersistentKeepalive != nil {
		r.PersistentKeepalive = *p.PersistentKeepalive
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize)
	for line := 1; sc.Scan(); line++ {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), directive)
		if !ok {
			continue
		}
		key, value, ok := strings.Cut(rest, "=")
		if !ok {
			return sdk.Record{}, fmt.Errorf("%s:%d: directive without '='", name, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch strings.ToLower(key) {
		case "name":
			r.Name = value
		case "endpoints":
			for _, e := range strings.Split(value, ",") {
				if e = strings.TrimSpace(e); e != "" && !slices.Contains(r.Endpoints, e) {
					r.Endpoints = append(r.Endpoints, e)
				}
			}
		case "presharedkeyref":
			r.PSKRef = value
		case "signed":
			b, err := base64.StdEncoding.DecodeString(value)
			if err != nil {
				return sdk.Record{}, fmt.Errorf("%s:%d: Signed is not base64", name, line)
			}
			r.Signed = b
		default:
			return sdk.Record{}, fmt.Errorf("%s:%d: unknown directive %q", name, line, key)
		}
	}
	if err := sc.Err(); err != nil {
		return sdk.Record{}, fmt.Errorf("%s: %v", name, err)
	}
	if err := r.Check(); err != nil {
		return sdk.Record{}, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// FormatRecordFile writes r as a peer file that ParseRecordFile reads back
// to the same record.
func FormatRecordFile(r *sdk.Record) ([]byte, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	if strings.ContainsAny(r.Name, "\r\n#") {
		return nil, errors.New("name must not contain line breaks or '#'")
	}
	var b bytes.Buffer
	b.WriteString("# Written by the wgplex discovery-dir plugin for the node itself;\n")
	b.WriteString("# removed when it stops. Edits are overwritten.\n")
	b.WriteString("[Peer]\n")
	if r.Name != "" {
		fmt.Fprintf(&b, "%s Name = %s\n", directive, r.Name)
	}
	fmt.Fprintf(&b, "PublicKey = %s\n", config.FormatKey(r.PublicKey))
	if len(r.AllowedIPs) > 0 {
		s := make([]string, len(r.AllowedIPs))
		for i, p := range r.AllowedIPs {
			s[i] = config.FormatPrefix(p)
		}
		fmt.Fprintf(&b, "AllowedIPs = %s\n", strings.Join(s, ", "))
	}
	if len(r.Endpoints) > 0 {
		fmt.Fprintf(&b, "Endpoint = %s\n", r.Endpoints[0])
	}
	if len(r.Endpoints) > 1 {
		fmt.Fprintf(&b, "%s Endpoints = %s\n", directive, strings.Join(r.Endpoints[1:], ", "))
	}
	if r.PersistentKeepalive != 0 {
		fmt.Fprintf(&b, "PersistentKeepalive = %d\n", r.PersistentKeepalive)
	}
	if r.PSKRef != "" {
		fmt.Fprintf(&b, "%s PresharedKeyRef = %s\n", directive, r.PSKRef)
	}
	if len(r.Signed) > 0 {
		fmt.Fprintf(&b, "%s Signed = %s\n", directive, base64.StdEncoding.EncodeToString(r.Signed))
	}
	return b.Bytes(), nil
}
