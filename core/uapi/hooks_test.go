// SPDX-License-Identifier: MIT

package uapi

import (
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// hookHandler is a fakeHandler that counts BeginRequest and EndRequest and
// records whether each Apply and Snapshot ran inside a request.
type hookHandler struct {
	fakeHandler
	begun, ended int
	outside      int // Apply or Snapshot calls while no request was open
}

func (h *hookHandler) BeginRequest() {
	if h.begun != h.ended {
		panic("BeginRequest while a request is open")
	}
	h.begun++
}

func (h *hookHandler) EndRequest() {
	if h.begun != h.ended+1 {
		panic("EndRequest without an open request")
	}
	h.ended++
}

func (h *hookHandler) Apply(c core.Config) error {
	if h.begun == h.ended {
		h.outside++
	}
	return h.fakeHandler.Apply(c)
}

func (h *hookHandler) Snapshot() core.Snapshot {
	if h.begun == h.ended {
		h.outside++
	}
	return h.fakeHandler.Snapshot()
}

func TestRequestHooksBracketEveryRequest(t *testing.T) {
	for _, c := range []struct {
		name     string
		input    string
		requests int
		fails    bool
	}{
		{"get and sets", "get=1\n\nset=1\nlisten_port=1\n\nset=1\nfoo=bar\n\nget=1\n\n", 4, false},
		{"none", "", 0, false},
		{"unknown line ends the connection", "get=1\n\nbogus=1\n", 2, true},
		{"truncated set", "set=1\nlisten_port=1\n", 1, true},
		{"get without its blank line", "get=1\nx\n", 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := &hookHandler{fakeHandler: fakeHandler{snap: testSnapshot()}}
			_, err := serve(t, h, c.input)
			if (err != nil) != c.fails {
				t.Fatalf("ServeConn error = %v, want failure %v", err, c.fails)
			}
			if h.begun != c.requests || h.ended != c.requests {
				t.Errorf("BeginRequest %d times, EndRequest %d times, want %d each", h.begun, h.ended, c.requests)
			}
			if h.outside != 0 {
				t.Errorf("%d Apply or Snapshot calls outside a request", h.outside)
			}
		})
	}
}

func TestRequestHooksOptional(t *testing.T) {
	// A Handler without the hooks is served as before.
	h := &fakeHandler{snap: testSnapshot()}
	out, err := serve(t, h, "get=1\n\n")
	if err != nil || !strings.HasSuffix(out, "errno=0\n\n") {
		t.Fatalf("get without hooks: %q, %v", out, err)
	}
}
