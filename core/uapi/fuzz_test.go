// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// formatSet renders a change set as a set body, the way a client such as
// wg(8) would, so that fuzzing can check that parsing is lossless.
func formatSet(c core.Config) string {
	var b strings.Builder
	if c.PrivateKey != nil {
		fmt.Fprintf(&b, "private_key=%s\n", c.PrivateKey.Hex())
	}
	if c.ListenPort != nil {
		fmt.Fprintf(&b, "listen_port=%d\n", *c.ListenPort)
	}
	if c.FwMark != nil {
		fmt.Fprintf(&b, "fwmark=%d\n", *c.FwMark)
	}
	if c.ReplacePeers {
		b.WriteString("replace_peers=true\n")
	}
	for _, p := range c.Peers {
		fmt.Fprintf(&b, "public_key=%s\n", p.PublicKey.Hex())
		if p.Remove {
			b.WriteString("remove=true\n")
		}
		if p.UpdateOnly {
			b.WriteString("update_only=true\n")
		}
		if p.ProtocolVersion != 0 {
			fmt.Fprintf(&b, "protocol_version=%d\n", p.ProtocolVersion)
		}
		if p.PresharedKey != nil {
			fmt.Fprintf(&b, "preshared_key=%s\n", p.PresharedKey.Hex())
		}
		if p.Endpoint != nil {
			fmt.Fprintf(&b, "endpoint=%s\n", p.Endpoint)
		}
		if p.PersistentKeepalive != nil {
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", *p.PersistentKeepalive)
		}
		if p.ReplaceAllowedIPs {
			b.WriteString("replace_allowed_ips=true\n")
		}
		for _, a := range p.AllowedIPs {
			minus := ""
			if a.Remove {
				minus = "-"
			}
			fmt.Fprintf(&b, "allowed_ip=%s%s\n", minus, a.Prefix)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// normalize makes nil and empty slices compare equal.
func normalize(c core.Config) core.Config {
	if len(c.Peers) == 0 {
		c.Peers = nil
	}
	for i := range c.Peers {
		if len(c.Peers[i].AllowedIPs) == 0 {
			c.Peers[i].AllowedIPs = nil
		}
	}
	return c
}

func FuzzParseSet(f *testing.F) {
	f.Add([]byte("\n"))
	f.Add([]byte("private_key=" + hexOf(1) + "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n" +
		"public_key=" + hexOf(2) + "\npreshared_key=" + hexOf(3) + "\nendpoint=[::1]:1\n" +
		"persistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.1/24\nallowed_ip=-::/0\n" +
		"protocol_version=1\nupdate_only=true\npublic_key=" + hexOf(4) + "\nremove=true\n\n"))
	for _, tc := range badSets {
		if len(tc.body) < 1<<12 {
			f.Add([]byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseSet(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Errno <= 0 {
				t.Fatalf("error without errno: %v", err)
			}
			if !reflect.DeepEqual(cfg, core.Config{}) {
				t.Fatal("change set returned with an error")
			}
			return
		}
		// Whatever parses must survive formatting and parsing again.
		again, err := ParseSet(bufio.NewReader(strings.NewReader(formatSet(cfg))))
		if err != nil {
			t.Fatalf("reformatted set rejected: %v\n%s", err, formatSet(cfg))
		}
		if !reflect.DeepEqual(normalize(cfg), normalize(again)) {
			t.Fatalf("round trip changed the set:\n%+v\n%+v", cfg, again)
		}
	})
}

func FuzzServeConn(f *testing.F) {
	f.Add([]byte("get=1\n\n"))
	f.Add([]byte("get=1\n\nset=1\nlisten_port=1\n\nget=1\n\n"))
	f.Add([]byte("set=1\nfoo=bar\n\nset=1\n\n"))
	f.Add([]byte("set=1\nlisten_port=1\n"))
	f.Add([]byte("get=1\r\n\r\n"))
	f.Add([]byte("set=2\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := &fakeHandler{snap: testSnapshot()}
		out, _ := serve(t, h, string(data))
		// Every reply ends with an errno line and an empty line, and every
		// applied change set was acknowledged with errno=0.
		if out != "" && !strings.HasSuffix(out, "\n\n") {
			t.Fatalf("unterminated reply %q", out)
		}
		ok := strings.Count(out, "errno=0\n\n") - strings.Count(out, goldenGet)
		if h.calls() > ok {
			t.Fatalf("%d change sets applied but only %d acknowledged", h.calls(), ok)
		}
		for _, line := range strings.Split(out, "\n") {
			if v, found := strings.CutPrefix(line, "errno="); found && v != "0" && !strings.HasPrefix(v, "-") {
				t.Fatalf("positive errno on the wire: %q", line)
			}
		}
	})
}
