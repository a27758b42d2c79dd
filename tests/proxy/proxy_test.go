// SPDX-License-Identifier: MIT

//go:build linux

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
)

// pair is two proxies, A (10.77.0.1) and B (10.77.0.2), each the other's
// only peer. B's host side has a web server behind a TCPServerTunnel on
// port 80, a DNS server behind port 53 and a UDP echo server behind port
// 7; A's has a web server behind port 8080, which B reaches with a
// TCPClientTunnel. A offers SOCKS5 and HTTP proxies, with and without
// credentials, and a UDPClientTunnel to B's echo server. A's DNS server is
// B's tunnel address, so names given to A's proxies are resolved through
// the tunnel.
type pair struct {
	a, b       *proc
	keyA, keyB key
}

const (
	proxyUser = "alice"
	proxyPass = "correct horse"
)

func startPair(t *testing.T, aLogLevel string, aExtra ...string) *pair {
	t.Helper()
	webB := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from B, path %s", r.URL.Path)
	}))
	t.Cleanup(webB.Close)
	webA := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from A")
	}))
	t.Cleanup(webA.Close)
	dns := dnsServer(t, map[string]netip.Addr{"web.wgplex.test": netip.MustParseAddr("10.77.0.2")})
	echo := udpEcho(t)
	p := &pair{keyA: newKey(t), keyB: newKey(t)}
	p.b = startProxy(t, "b", fmt.Sprintf(`[Interface]
Address = 10.77.0.2/24
PrivateKey = %s

[Peer]
PublicKey = %s
AllowedIPs = 10.77.0.1/32

[TCPServerTunnel]
ListenPort = 80
Target = %s

[UDPServerTunnel]
ListenPort = 53
Target = %s

[UDPServerTunnel]
ListenPort = 7
Target = %s

[TCPClientTunnel]
BindAddress = 127.0.0.1:0
Target = 10.77.0.1:8080
`, p.keyB.priv, p.keyA.pub, webB.Listener.Addr(), dns, echo), "error")
	p.a = startProxy(t, "a", fmt.Sprintf(`[Interface]
Address = 10.77.0.1/24
PrivateKey = %s
DNS = 10.77.0.2

[Peer]
PublicKey = %s
AllowedIPs = 10.77.0.2/32
Endpoint = 127.0.0.1:%d
PersistentKeepalive = 1

[Socks5]
BindAddress = 127.0.0.1:0

[Socks5]
BindAddress = 127.0.0.1:0
Username = %s
Password = %s

[http]
BindAddress = 127.0.0.1:0

[http]
BindAddress = 127.0.0.1:0
Username = %s
Password = %s

[UDPClientTunnel]
BindAddress = 127.0.0.1:0
Target = 10.77.0.2:7

[TCPServerTunnel]
ListenPort = 8080
Target = %s
`, p.keyA.priv, p.keyB.pub, p.b.port, proxyUser, proxyPass, proxyUser, proxyPass, webA.Listener.Addr()), aLogLevel, aExtra...)
	return p
}

// get fetches u through proxy (nil: directly) and returns the body.
func get(proxy *url.URL, u string) (int, string, error) {
	tr := &http.Transport{DisableKeepAlives: true}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func wantBody(t *testing.T, proxy *url.URL, u, want string) {
	t.Helper()
	// The first request also waits for the handshake; later ones are
	// answered at once.
	waitFor(t, 15*time.Second, "GET "+u+" via "+fmt.Sprint(proxy), func() error {
		code, body, err := get(proxy, u)
		if err != nil {
			return err
		}
		if code != 200 || body != want {
			return fmt.Errorf("status %d, body %q", code, body)
		}
		return nil
	})
}

func TestProxyPair(t *testing.T) {
	p := startPair(t, "error")
	a, b := p.a, p.b
	socks := &url.URL{Scheme: "socks5", Host: a.all["socks5"][0]}
	socksAuth := &url.URL{Scheme: "socks5", Host: a.all["socks5"][1], User: url.UserPassword(proxyUser, proxyPass)}
	httpProxy := &url.URL{Scheme: "http", Host: a.all["http"][0]}
	httpAuth := &url.URL{Scheme: "http", Host: a.all["http"][1], User: url.UserPassword(proxyUser, proxyPass)}

	t.Run("SOCKS5", func(t *testing.T) {
		wantBody(t, socks, "http://10.77.0.2/x", "hello from B, path /x")
		// The name goes to the proxy, which asks B's DNS server through
		// the tunnel.
		wantBody(t, socks, "http://web.wgplex.test/dns", "hello from B, path /dns")
		wantBody(t, socksAuth, "http://web.wgplex.test/auth", "hello from B, path /auth")
	})
	t.Run("HTTP", func(t *testing.T) {
		wantBody(t, httpProxy, "http://web.wgplex.test/plain", "hello from B, path /plain")
		wantBody(t, httpAuth, "http://10.77.0.2/auth", "hello from B, path /auth")
		// CONNECT, by hand.
		c, err := net.Dial("tcp", a.all["http"][0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "CONNECT web.wgplex.test:80 HTTP/1.1\r\nHost: web.wgplex.test:80\r\n\r\nGET /tunnelled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "hello from B, path /tunnelled" {
			t.Fatalf("through CONNECT: %q", body)
		}
	})
	t.Run("UDPClientTunnel", func(t *testing.T) {
		c, err := net.Dial("udp", a.servers["udp-client-tunnel"])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 64)
		waitFor(t, 15*time.Second, "a UDP answer through the tunnel", func() error {
			c.Write([]byte("ping"))
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			if string(buf[:n]) != "echo:ping" {
				return fmt.Errorf("answer %q", buf[:n])
			}
			return nil
		})
	})
	t.Run("SOCKS5UDP", func(t *testing.T) {
		// UDP ASSOCIATE, to B's echo server behind its UDPServerTunnel.
		ctrl, err := net.Dial("tcp", a.all["socks5"][0])
		if err != nil {
			t.Fatal(err)
		}
		defer ctrl.Close()
		ctrl.SetDeadline(time.Now().Add(10 * time.Second))
		ctrl.Write([]byte{5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0})
		var rep [12]byte
		if _, err := io.ReadFull(ctrl, rep[:]); err != nil || rep[3] != 0 {
			t.Fatalf("UDP ASSOCIATE: % x %v", rep, err)
		}
		relay := netip.AddrPortFrom(netip.AddrFrom4([4]byte(rep[6:10])), uint16(rep[10])<<8|uint16(rep[11]))
		uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay))
		if err != nil {
			t.Fatal(err)
		}
		defer uc.Close()
		// By name: resolved through the tunnel like a CONNECT target.
		msg := append([]byte{0, 0, 0, 3, byte(len("web.wgplex.test"))}, "web.wgplex.test"...)
		msg = append(msg, 0, 7)
		msg = append(msg, "udp-ping"...)
		want := append([]byte{0, 0, 0, 1, 10, 77, 0, 2, 0, 7}, "echo:udp-ping"...)
		buf := make([]byte, 256)
		waitFor(t, 15*time.Second, "a UDP answer through SOCKS5", func() error {
			uc.Write(msg)
			uc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, err := uc.Read(buf)
			if err != nil {
				return err
			}
			if string(buf[:n]) != string(want) {
				return fmt.Errorf("answer % x", buf[:n])
			}
			return nil
		})
	})
	t.Run("TCPClientTunnel", func(t *testing.T) {
		// B -> A: B learns A's endpoint from A's handshake and keepalives.
		wantBody(t, nil, "http://"+b.servers["tcp-client-tunnel"]+"/", "hello from A")
	})
	t.Run("Show", func(t *testing.T) {
		out, err := a.wgplex(t, "show", "interfaces")
		if err != nil || strings.TrimSpace(out) != "a" {
			t.Fatalf("show interfaces: %q %v", out, err)
		}
		out, err = a.wgplex(t, "show", "a")
		if err != nil || !strings.Contains(out, "interface: a") || !strings.Contains(out, "peer: "+p.keyB.pub) ||
			!strings.Contains(out, "latest handshake") || !strings.Contains(out, "allowed ips: 10.77.0.2/32") {
			t.Fatalf("show a: %v\n%s", err, out)
		}
		if strings.Contains(out, p.keyA.priv) {
			t.Fatal("show prints the private key")
		}
		// set goes the same way: a change shows up in showconf.
		if out, err := a.wgplex(t, "set", "a", "peer", p.keyB.pub, "persistent-keepalive", "7"); err != nil {
			t.Fatalf("set: %v %s", err, out)
		}
		out, err = a.wgplex(t, "showconf", "a")
		if err != nil || !strings.Contains(out, "PersistentKeepalive = 7") {
			t.Fatalf("showconf after set: %v\n%s", err, out)
		}
		a.wgplex(t, "set", "a", "peer", p.keyB.pub, "persistent-keepalive", "1")
	})
	t.Run("Refusals", func(t *testing.T) { refusals(t, p) })
}

// socksConnect runs a SOCKS5 CONNECT by hand and returns the reply code,
// or -1 if the proxy closed the connection first.
func socksConnect(t *testing.T, addr string, user, pass string, target netip.AddrPort) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	method := byte(0)
	if user != "" {
		method = 2
	}
	c.Write([]byte{5, 1, method})
	var r [2]byte
	if _, err := io.ReadFull(c, r[:]); err != nil {
		return -1
	}
	if r[1] == 0xff {
		return 0xff
	}
	if method == 2 {
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		c.Write(msg)
		if _, err := io.ReadFull(c, r[:]); err != nil || r[1] != 0 {
			return 0x100 + int(r[1]) // authentication refused
		}
	}
	a := target.Addr().As4()
	req := append([]byte{5, 1, 0, 1}, a[:]...)
	req = append(req, byte(target.Port()>>8), byte(target.Port()))
	c.Write(req)
	var rep [10]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return -1
	}
	return int(rep[1])
}

func refusals(t *testing.T, p *pair) {
	a := p.a
	socks, socksAuth := a.all["socks5"][0], a.all["socks5"][1]
	outside := netip.MustParseAddrPort("10.99.0.1:80")
	if code := socksConnect(t, socks, "", "", outside); code != 2 {
		t.Errorf("SOCKS5 CONNECT outside the allowed IPs: reply %d, want 2 (not allowed)", code)
	}
	if code := socksConnect(t, socksAuth, proxyUser, "wrong", netip.MustParseAddrPort("10.77.0.2:80")); code != 0x101 {
		t.Errorf("SOCKS5 with a wrong password: %#x, want refusal 0x101", code)
	}
	if code := socksConnect(t, socksAuth, "", "", netip.MustParseAddrPort("10.77.0.2:80")); code != 0xff {
		t.Errorf("SOCKS5 without credentials on a proxy that wants them: %#x, want 0xff", code)
	}
	if code := socksConnect(t, socksAuth, proxyUser, proxyPass, netip.MustParseAddrPort("10.77.0.2:80")); code != 0 {
		t.Errorf("SOCKS5 with the right password: reply %d", code)
	}
	// HTTP: outside the allowed IPs, no credentials, wrong ones.
	code, _, err := get(&url.URL{Scheme: "http", Host: a.all["http"][0]}, "http://10.99.0.1/")
	if err != nil || code != http.StatusForbidden {
		t.Errorf("HTTP GET outside the allowed IPs: %d %v, want 403", code, err)
	}
	code, _, err = get(&url.URL{Scheme: "http", Host: a.all["http"][1]}, "http://10.77.0.2/")
	if err != nil || code != http.StatusProxyAuthRequired {
		t.Errorf("HTTP without credentials: %d %v, want 407", code, err)
	}
	code, _, err = get(&url.URL{Scheme: "http", Host: a.all["http"][1], User: url.UserPassword(proxyUser, "nope")}, "http://10.77.0.2/")
	if err != nil || code != http.StatusProxyAuthRequired {
		t.Errorf("HTTP with a wrong password: %d %v, want 407", code, err)
	}
	// Garbage: the proxies close or answer 400, at once.
	for _, addr := range []string{socks, a.all["http"][0]} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("\x16\x03\x01\x02\x00garbage\r\n\r\n\x00\xff"))
		reply, err := io.ReadAll(c)
		c.Close()
		// A reset is a close too (the proxy did not read all of it); only
		// a connection still open when the deadline passes is wrong.
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("garbage to %s: connection not closed: %v", addr, err)
		}
		if addr != socks && !strings.HasPrefix(string(reply), "HTTP/1.1 400") {
			t.Errorf("garbage to the HTTP proxy: %q", reply)
		}
	}
	// None of that hurt the tunnel.
	wantBody(t, &url.URL{Scheme: "socks5", Host: socks}, "http://web.wgplex.test/after", "hello from B, path /after")
}
