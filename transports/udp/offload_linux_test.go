// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// sizedBatch returns datagrams of the given lengths, each filled with a
// pattern that names its index, so that a lost, reordered or mis-cut
// datagram shows. Each starts with byte 4, as a WireGuard data message
// does, so that the Bind delivers it on the data socket (fns[0]) rather
// than the handshake socket.
func sizedBatch(lens ...int) [][]byte {
	out := make([][]byte, len(lens))
	for i, n := range lens {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*31 + j)
		}
		copy(b, fmt.Sprintf("\x04%03d", i))
		out[i] = b
	}
	return out
}

func repeatLen(n, size int) []int {
	l := make([]int, n)
	for i := range l {
		l[i] = size
	}
	return l
}

// receiveAll drives fn with batches of batch buffers of bufLen bytes until
// n datagrams arrived, cutting coalesced buffers at their segment size as
// the engine does. It also reports how many buffers held more than one
// datagram.
func receiveAll(t *testing.T, fn core.ReceiveFunc, batch, bufLen, n int) (got [][]byte, coalesced int) {
	t.Helper()
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, bufLen)
	}
	sizes := make([]int, batch)
	segs := make([]int, batch)
	eps := make([]core.Endpoint, batch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(got) < n {
			k, err := fn(bufs, sizes, segs, eps)
			if err != nil {
				return
			}
			for i := range k {
				if segs[i] > 0 {
					coalesced++
				}
				for _, d := range cutSegments(bufs[i][:sizes[i]], segs[i]) {
					got = append(got, bytes.Clone(d))
					if eps[i] == nil {
						got[len(got)-1] = []byte("nil endpoint")
					}
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("received %d of %d datagrams", len(got), n)
	}
	return got, coalesced
}

// cutSegments splits a received buffer into its datagrams.
func cutSegments(b []byte, seg int) [][]byte {
	if seg <= 0 || seg >= len(b) {
		return [][]byte{b}
	}
	var out [][]byte
	for len(b) > seg {
		out = append(out, b[:seg])
		b = b[seg:]
	}
	return append(out, b)
}

func openPair(t *testing.T) (a *Bind, bFns []core.ReceiveFunc, toB core.Endpoint) {
	t.Helper()
	a = NewBind()
	if _, _, err := a.Open(0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := NewBind()
	fns, port, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ep, err := ParseEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	if err != nil {
		t.Fatal(err)
	}
	return a, fns, ep
}

// TestGSOGRO sends runs of datagrams that GSO groups and GRO delivers
// coalesced, and checks every datagram comes out whole and in order, also
// when the receiver takes them a few at a time.
func TestGSOGRO(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lens  []int
		batch int
	}{
		{"equal", repeatLen(100, 1452), 128},
		{"equal small batches", repeatLen(100, 1452), 7},
		{"short last", append(repeatLen(20, 1452), 300), 128},
		{"mixed runs", []int{100, 100, 100, 50, 1452, 1452, 1000, 1, 0, 32, 32, 32, 64}, 5},
		{"one", []int{148}, 128},
		{"longer than a segment limit", repeatLen(maxGSOSegments*2+5, 148), 128},
	} {
		// 2 KiB buffers take one datagram each (copied out of the
		// receiver's own); 64 KiB buffers get whole coalesced messages.
		for _, bufLen := range []int{2048, 1<<16 + 64} {
			t.Run(fmt.Sprintf("%s/buf%d", tc.name, bufLen), func(t *testing.T) {
				a, fns, toB := openPair(t)
				off := a.Offloads()
				t.Logf("offloads %v", off)
				sent := sizedBatch(tc.lens...)
				if err := a.Send(sent, toB); err != nil {
					t.Fatal(err)
				}
				got, coalesced := receiveAll(t, fns[0], tc.batch, bufLen, len(sent))
				if len(got) != len(sent) {
					t.Fatalf("got %d datagrams, want %d", len(got), len(sent))
				}
				for i := range sent {
					if !bytes.Equal(got[i], sent[i]) {
						t.Fatalf("datagram %d: got %d bytes %q..., want %d bytes %q...", i,
							len(got[i]), got[i][:min(8, len(got[i]))], len(sent[i]), sent[i][:min(8, len(sent[i]))])
					}
				}
				switch {
				case bufLen < groBufLen && coalesced > 0:
					t.Fatalf("%d buffers too small for a coalesced message held several datagrams", coalesced)
				case bufLen >= groBufLen && tc.name == "equal" && off[OffloadGSO] && off[OffloadGRO] && coalesced == 0:
					t.Fatal("no buffer came coalesced although GSO and GRO are on")
				}
			})
		}
	}
}

// TestOffloadsSwitches: the environment switches turn both offloads off,
// and the data path works without them.
func TestOffloadsSwitches(t *testing.T) {
	b := NewBind()
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	on := b.Offloads()
	b.Close()
	if !on[OffloadGSO] || !on[OffloadGRO] {
		t.Logf("kernel lacks an offload: %v", on)
	}
	b = NewBindWithOptions(Options{NoGSO: true, NoGRO: true})
	if _, _, err := b.Open(0); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if off := b.Offloads(); off[OffloadGSO] || off[OffloadGRO] {
		t.Fatalf("offloads with both switched off: %v", off)
	}
	// And the data path still works without them.
	sent := sizedBatch(repeatLen(10, 500)...)
	_, fns, toB := openPair(t)
	if err := b.Send(sent, toB); err != nil {
		t.Fatal(err)
	}
	got, _ := receiveAll(t, fns[0], 128, 2048, len(sent))
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("datagram %d differs", i)
		}
	}
}

// TestGSOFallback makes the kernel refuse segmented sends (SO_NO_CHECK: a
// GSO send needs a checksum) and checks that Send falls back to one
// datagram per message and loses nothing.
func TestGSOFallback(t *testing.T) {
	a, fns, toB := openPair(t)
	if !a.v4.gso.Load() {
		t.Skip("no UDP GSO on this kernel")
	}
	var serr error
	if err := a.v4.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1)
	}); err != nil || serr != nil {
		t.Skipf("SO_NO_CHECK: %v %v", err, serr)
	}
	sent := sizedBatch(repeatLen(30, 1000)...)
	if err := a.Send(sent, toB); err != nil {
		t.Fatalf("Send with segmentation refused: %v", err)
	}
	got, _ := receiveAll(t, fns[0], 128, 2048, len(sent))
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("datagram %d differs", i)
		}
	}
}

func TestParseGROSizeGarbage(t *testing.T) {
	oob := make([]byte, recvOOBSize)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_GRO
	h.SetLen(unix.CmsgLen(4))
	oob[unix.CmsgLen(0)] = 0x2c
	oob[unix.CmsgLen(0)+1] = 0x05
	if got := parseGROSize(oob); got != 0x52c {
		t.Fatalf("parseGROSize = %d", got)
	}
	h.SetLen(1 << 20)
	if got := parseGROSize(oob); got != 0 {
		t.Fatalf("oversized cmsg gave %d", got)
	}
	for n := range len(oob) {
		parseGROSize(oob[:n])
	}
}
