// SPDX-License-Identifier: MIT

package uapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// fakeHandler records every change set and answers with a canned snapshot
// and error.
type fakeHandler struct {
	mu      sync.Mutex
	applied []core.Config
	err     error
	snap    core.Snapshot
}

func (h *fakeHandler) Apply(c core.Config) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	// ServeConn wipes the keys of the change set after Apply, as a
	// Handler that keeps them must copy them (the core does).
	if c.PrivateKey != nil {
		k := *c.PrivateKey
		c.PrivateKey = &k
	}
	c.Peers = append([]core.PeerConfig(nil), c.Peers...)
	for i := range c.Peers {
		if c.Peers[i].PresharedKey != nil {
			k := *c.Peers[i].PresharedKey
			c.Peers[i].PresharedKey = &k
		}
	}
	h.applied = append(h.applied, c)
	return h.err
}

func (h *fakeHandler) Snapshot() core.Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snap
}

func (h *fakeHandler) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.applied)
}

// pipeConn is a connection whose input is fixed and whose output is
// captured.
type pipeConn struct {
	io.Reader
	out bytes.Buffer
}

func (c *pipeConn) Write(b []byte) (int, error) { return c.out.Write(b) }

func serve(t testing.TB, h Handler, input string) (string, error) {
	t.Helper()
	c := &pipeConn{Reader: strings.NewReader(input)}
	err := ServeConn(c, h, nil)
	return c.out.String(), err
}

func TestServeConnSeveralRequests(t *testing.T) {
	h := &fakeHandler{snap: testSnapshot()}
	input := "get=1\n\n" +
		"set=1\nlisten_port=1\n\n" +
		"set=1\nfoo=bar\nlisten_port=9\n\n" + // rejected, connection survives
		"set=1\npublic_key=" + hexOf(0x42) + "\nallowed_ip=10.0.0.0/8\n\n" +
		"get=1\n\n"
	out, err := serve(t, h, input)
	if err != nil {
		t.Fatal(err)
	}
	want := goldenGet + "errno=0\n\n" +
		"errno=0\n\n" +
		fmt.Sprintf("errno=%d\n\n", -errnoInvalid) +
		"errno=0\n\n" +
		goldenGet + "errno=0\n\n"
	if out != want {
		t.Fatalf("got:\n%q\nwant:\n%q", out, want)
	}
	if len(h.applied) != 2 {
		t.Fatalf("Apply called %d times, want 2", len(h.applied))
	}
	if *h.applied[0].ListenPort != 1 || len(h.applied[1].Peers) != 1 {
		t.Fatalf("wrong change sets: %+v", h.applied)
	}
}

func TestServeConnEmptyConnection(t *testing.T) {
	out, err := serve(t, &fakeHandler{}, "")
	if err != nil || out != "" {
		t.Fatalf("%q, %v", out, err)
	}
}

func TestServeConnBadSetsApplyNothing(t *testing.T) {
	for _, tc := range badSets {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHandler{}
			// A good request after the bad one shows whether the connection
			// stays usable. A truncated request is truncated by the end of
			// the stream, so nothing may follow it.
			input := "set=1\n" + tc.body
			if !strings.HasPrefix(tc.name, "half") {
				input += "set=1\nlisten_port=1\n\n"
			}
			out, err := serve(t, h, input)
			want := fmt.Sprintf("errno=%d\n\n", -tc.errno)
			if tc.fatal {
				if err == nil {
					t.Fatal("connection not closed")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				want += "errno=0\n\n"
			}
			if out != want {
				t.Fatalf("got %q, want %q", out, want)
			}
			wantCalls := 1
			if tc.fatal {
				wantCalls = 0
			}
			if h.calls() != wantCalls {
				t.Fatalf("Apply called %d times, want %d", h.calls(), wantCalls)
			}
		})
	}
}

func TestServeConnTruncatedSetAppliesNothing(t *testing.T) {
	h := &fakeHandler{}
	out, err := serve(t, h, "set=1\nlisten_port=1\nfwmark=3\n")
	if err == nil || h.calls() != 0 {
		t.Fatalf("err %v, calls %d", err, h.calls())
	}
	if out != fmt.Sprintf("errno=%d\n\n", -errnoProto) {
		t.Fatalf("got %q", out)
	}
}

func TestServeConnProtocolErrorsClose(t *testing.T) {
	for _, tc := range []struct{ name, input string }{
		{"unknown op", "set=2\n\nget=1\n\n"},
		{"key line as op", "listen_port=1\n\n"},
		{"get without blank", "get=1\nx\nget=1\n\n"},
		{"get then eof", "get=1\n"},
		{"garbage", garbage(1 << 20)},
		{"long op", strings.Repeat("g", 10000) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHandler{snap: testSnapshot()}
			out, err := serve(t, h, tc.input)
			if err == nil {
				t.Fatal("connection not closed")
			}
			if !strings.HasPrefix(out, "errno=-") || strings.Count(out, "errno=") != 1 || !strings.HasSuffix(out, "\n\n") {
				t.Fatalf("got %q", out)
			}
			if h.calls() != 0 {
				t.Fatal("Apply called")
			}
		})
	}
}

func TestServeConnMapsApplyErrors(t *testing.T) {
	for _, tc := range []struct {
		err   error
		errno int64
	}{
		{fmt.Errorf("peer: %w", core.ErrInvalidConfig), errnoInvalid},
		{fmt.Errorf("bind: %w", core.ErrPortInUse), errnoAddrInUse},
		{core.ErrKeyStore, errnoIO},
		{core.ErrKeyManaged, errnoPerm},
		{core.ErrClosed, errnoNoDev},
		{core.ErrTooManyPeers, errnoNoSpace},
		{errors.New("something else"), errnoIO},
	} {
		h := &fakeHandler{err: tc.err}
		out, err := serve(t, h, "set=1\nlisten_port=1\n\n")
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("errno=%d\n\n", -tc.errno); out != want {
			t.Errorf("%v: got %q want %q", tc.err, out, want)
		}
		if e := applyError(tc.err); !errors.Is(e, tc.err) {
			t.Errorf("%v not wrapped", tc.err)
		}
	}
}

// errConn fails every write, as a connection to a client that went away does.
type errConn struct{ io.Reader }

func (errConn) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestServeConnWriteFailure(t *testing.T) {
	h := &fakeHandler{snap: testSnapshot()}
	if err := ServeConn(errConn{strings.NewReader("get=1\n\nget=1\n\n")}, h, nil); err == nil {
		t.Fatal("want error")
	}
}
