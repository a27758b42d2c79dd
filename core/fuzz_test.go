// SPDX-License-Identifier: MIT

package core_test

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/wgplex/wgplex/core/coretest"
)

var (
	fuzzOnce   sync.Once
	fuzzTarget *node
	fuzzEvil   *coretest.MemBind
	fuzzNet    *coretest.MemNetwork
)

// FuzzReceive feeds arbitrary datagrams to a configured, running tunnel
// from an unknown sender. Whatever the bytes, the receive path must drop
// them without panicking (a panic in any engine goroutine fails the run).
func FuzzReceive(f *testing.F) {
	for _, n := range []int{0, 1, 4, 31, 32, 33, 64, 92, 148, 1500} {
		b := make([]byte, n)
		if n >= 4 {
			b[0] = byte(1 + n%4)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOnce.Do(func() {
			clock := coretest.NewFakeClock(epoch)
			// The pair outlives this first sub-test on purpose: building
			// it per input would dominate the fuzzing time.
			ft := &fuzzT{T: t}
			a, _, nw := pair(ft, clock, true)
			fuzzTarget, fuzzNet = a, nw
			fuzzEvil = nw.NewBind(netip.MustParseAddr("192.0.2.66"))
			if _, _, err := fuzzEvil.Open(666); err != nil {
				t.Fatal(err)
			}
		})
		ep, _ := fuzzEvil.ParseEndpoint("192.0.2.1:51820")
		fuzzEvil.Send([][]byte{data}, ep)
		settle(t, fuzzNet, fuzzTarget)
	})
}

// fuzzT keeps pair's resources alive past the first fuzz input by
// swallowing Cleanup registrations.
type fuzzT struct{ *testing.T }

func (fuzzT) Cleanup(func()) {}
