// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUAPIBadInput feeds the daemon's UAPI socket input that wg(8) would
// never send. Each request must be refused (errno=N with N != 0) or the
// connection closed, and afterwards the daemon must still answer get=1 with
// an unchanged configuration.
//
// A set operation may be applied line by line (wireguard-go does), so each
// bad request is built such that no prefix of it is a valid change: the
// error comes before anything could have been applied. The socket is a
// file, so the test connects to it directly without entering the namespace.
func TestUAPIBadInput(t *testing.T) {
	impl := implUnderTest(t)
	d := StartDaemon(t, NewNetns(t), impl)
	peer1, peer2 := GenKey(t), GenKey(t)
	d.SetConf(fmt.Sprintf(`[Interface]
PrivateKey = %s
ListenPort = 51820

[Peer]
PublicKey = %s
AllowedIPs = 10.214.7.0/24
Endpoint = 10.213.9.1:51820

[Peer]
PublicKey = %s
AllowedIPs = fd00:214:7::/64
`, GenKey(t).Private, peer1.Public, peer2.Public))
	baseline := normaliseDump(d.Dump())
	sock := SocketPath(d.Iface)
	peerHex := keyHex(t, peer1.Public)

	garbage := make([]byte, 1<<20)
	rng := rand.New(rand.NewChaCha8([32]byte{'w', 'g', 'p', 'x'}))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	garbage[0] = 0xff // so that the first line cannot be an operation

	for _, tc := range []struct {
		name    string
		request []byte
		// drop closes the connection right after writing; no response is
		// read.
		drop bool
	}{
		// First, because nothing tells the test when the daemon is done
		// with a connection the client dropped: the cases after it and the
		// final check give it time to do damage before the last comparison.
		{name: "dropped mid-set", request: []byte("set=1\npublic_key=" + peerHex + "\npersistent_keepalive_inter"), drop: true},
		{name: "unknown key", request: []byte("set=1\nno_such_key=1\n\n")},
		{name: "unknown operation", request: []byte("frobnicate=1\n\n")},
		{name: "bad hex private key", request: []byte("set=1\nprivate_key=" + strings.Repeat("zz", 32) + "\n\n")},
		{name: "short public key", request: []byte("set=1\npublic_key=abcd\n\n")},
		{name: "bad CIDR", request: []byte("set=1\npublic_key=" + peerHex + "\nallowed_ip=10.214.7.0/99\n\n")},
		{name: "bad IPv6 CIDR", request: []byte("set=1\npublic_key=" + peerHex + "\nallowed_ip=fd00:214:7::/129\n\n")},
		{name: "port out of range", request: []byte("set=1\nlisten_port=70000\n\n")},
		{name: "get with trailing data", request: []byte("get=1\nx\n\n")},
		{name: "half a request", request: []byte("set=1\nprivate_k")},
		{name: "1 MiB of garbage", request: garbage},
		{name: "set then 1 MiB of garbage", request: append([]byte("set=1\n"), garbage...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := uapiRequest(sock, tc.request, tc.drop)
			switch {
			case tc.drop:
			case resp == "":
				t.Logf("connection closed without a response (%v)", err)
			default:
				errno, ok := uapiErrno(resp)
				if !ok || errno == 0 {
					t.Errorf("response %q (err %v), want errno=N with N != 0 or a closed connection", resp, err)
				} else {
					t.Logf("errno=%d", errno)
				}
			}
			if _, err := uapiGet(sock); err != nil {
				t.Fatalf("daemon no longer answers get=1: %v", err)
			}
			if d.Exited() {
				t.Fatalf("daemon exited")
			}
			if got := normaliseDump(d.Dump()); got != baseline {
				t.Fatalf("configuration changed:\n%s\nwant:\n%s", got, baseline)
			}
		})
	}
	if got := normaliseDump(d.Dump()); got != baseline {
		t.Fatalf("configuration changed by the end:\n%s\nwant:\n%s", got, baseline)
	}
}

// uapiRequest sends req on a new connection to the UAPI socket and returns
// whatever the daemon answered before closing or finishing one response.
// With drop it closes the connection right after writing, without
// half-closing first or reading, like a client that crashed mid-request.
func uapiRequest(sock string, req []byte, drop bool) (string, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// Write from another goroutine: a daemon that stops reading early
	// must not be able to block the test on a full socket buffer.
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(req)
		if err == nil && !drop {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	if drop {
		<-werr
		return "", nil
	}
	resp, rerr := readResponse(c)
	c.Close()
	<-werr
	return resp, rerr
}

// readResponse reads one UAPI response, which ends with a blank line after
// the errno line, or whatever arrived before the daemon closed.
func readResponse(r io.Reader) (string, error) {
	var buf bytes.Buffer
	chunk := make([]byte, 4096)
	for {
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		if s := buf.String(); strings.Contains(s, "errno=") && strings.HasSuffix(s, "\n\n") {
			return s, nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return buf.String(), err
		}
	}
}

// uapiGet performs get=1 and returns the response, failing unless the
// daemon reports errno=0 and includes its private key.
func uapiGet(sock string) (string, error) {
	resp, err := uapiRequest(sock, []byte("get=1\n\n"), false)
	if err != nil {
		return resp, err
	}
	if errno, ok := uapiErrno(resp); !ok || errno != 0 || !strings.Contains(resp, "private_key=") {
		return resp, fmt.Errorf("unexpected get=1 response %q", resp)
	}
	return resp, nil
}

// uapiErrno extracts N from the response's errno=N line.
func uapiErrno(resp string) (int, bool) {
	for _, line := range strings.Split(resp, "\n") {
		if v, ok := strings.CutPrefix(line, "errno="); ok {
			n, err := strconv.Atoi(v)
			return n, err == nil
		}
	}
	return 0, false
}

// keyHex converts a wg(8) base64 key into the hex form the UAPI uses.
func keyHex(t testing.TB, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		t.Fatalf("bad key %q: %v", b64, err)
	}
	return hex.EncodeToString(raw)
}
