// SPDX-License-Identifier: MIT

package uapi

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/core"
)

// fakeCounter is a tunnel with n peers, of which only known is named.
type fakeCounter struct {
	n     int
	known core.PublicKey
}

func (c fakeCounter) PeerCount() int                 { return c.n }
func (c fakeCounter) HasPeer(pk core.PublicKey) bool { return pk == c.known }

// peerKey is a distinct public key for every i.
func peerKey(i int) string {
	var k [keyLen]byte
	binary.BigEndian.PutUint64(k[:], uint64(i)+1)
	k[31] = 0x5a
	return hex.EncodeToString(k[:])
}

func wantNoSpace(t *testing.T, err error, limit string) {
	t.Helper()
	var ue *Error
	if !errors.As(err, &ue) || ue.Errno != errnoNoSpace || ue.fatal {
		t.Fatalf("got %v, want a non-fatal ENOSPC", err)
	}
	if !strings.Contains(err.Error(), limit) {
		t.Fatalf("error %q does not name the limit %s", err, limit)
	}
}

// TestParseSetPeerLimit: peers that the request adds count on top of the
// tunnel's; removals, update_only and peers already configured do not;
// replace_peers starts from zero.
func TestParseSetPeerLimit(t *testing.T) {
	known, knownHex := testKey(0x77)
	room := fakeCounter{n: core.MaxPeers - 1, known: core.PublicKey(known)}
	parseFor := func(pc PeerCounter, body string) error {
		_, err := ParseSetFor(bufio.NewReader(strings.NewReader(body)), pc)
		return err
	}
	fits := "public_key=" + peerKey(1) + "\nremove=true\n" +
		"public_key=" + peerKey(2) + "\nupdate_only=true\n" +
		"public_key=" + knownHex + "\nallowed_ip=10.0.0.0/8\n" +
		"public_key=" + peerKey(3) + "\n\n"
	if err := parseFor(room, fits); err != nil {
		t.Fatalf("one new peer where one fits: %v", err)
	}
	tooMany := "public_key=" + peerKey(3) + "\npublic_key=" + peerKey(4) + "\n\n"
	wantNoSpace(t, parseFor(room, tooMany), fmt.Sprint(core.MaxPeers))
	if err := parseFor(room, "replace_peers=true\n"+tooMany); err != nil {
		t.Fatalf("replace_peers: %v", err)
	}
	// Without a tunnel to ask, the request alone may not pass the limit.
	s := &peerStream{n: core.MaxPeers + 1, bare: true}
	_, err := ParseSetFor(bufio.NewReaderSize(s, 64<<10), nil)
	wantNoSpace(t, err, fmt.Sprint(core.MaxPeers))
}

// TestParseSetAllowedIPsLimit: one peer may list MaxAllowedIPsPerPeer
// allowed IPs in a request and no more; replace_allowed_ips starts the
// count again.
func TestParseSetAllowedIPsLimit(t *testing.T) {
	body := func(n int, replaceAt int) string {
		var b strings.Builder
		b.WriteString("public_key=" + peerKey(0) + "\n")
		for i := range n {
			if i == replaceAt {
				b.WriteString("replace_allowed_ips=true\n")
			}
			fmt.Fprintf(&b, "allowed_ip=10.%d.%d.0/24\n", i>>8&255, i&255)
		}
		return b.String() + "\n"
	}
	cfg, err := parse(t, body(MaxAllowedIPsPerPeer, -1))
	if err != nil || len(cfg.Peers[0].AllowedIPs) != MaxAllowedIPsPerPeer {
		t.Fatalf("at the limit: %v", err)
	}
	_, err = parse(t, body(MaxAllowedIPsPerPeer+1, -1))
	wantNoSpace(t, err, fmt.Sprint(MaxAllowedIPsPerPeer))
	cfg, err = parse(t, body(MaxAllowedIPsPerPeer+10, 10))
	if err != nil || len(cfg.Peers[0].AllowedIPs) != MaxAllowedIPsPerPeer {
		t.Fatalf("after replace_allowed_ips: %v", err)
	}
}

// peerStream produces a set request of n new peers with an endpoint and
// an allowed IP each (about 130 bytes per peer; with bare, a public_key
// line alone), line by line, and samples the live heap every sampleEvery
// bytes it hands out (never if 0).
type peerStream struct {
	bare        bool
	n, next     int
	buf         []byte
	read        int
	sampleEvery int
	nextSample  int
	base        uint64
	samples     []heapSample
}

type heapSample struct {
	read int
	live uint64 // heap in use above the base, after a collection
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func (s *peerStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.next > s.n {
			return 0, io.EOF
		}
		switch {
		case s.next == s.n:
			s.buf = []byte("\n")
		case s.bare:
			s.buf = fmt.Appendf(s.buf[:0], "public_key=%s\n", peerKey(s.next))
		default:
			s.buf = fmt.Appendf(s.buf[:0], "public_key=%s\nendpoint=192.0.2.%d:51820\nallowed_ip=10.%d.%d.%d/32\n",
				peerKey(s.next), s.next%250+1, s.next>>16&255, s.next>>8&255, s.next&255)
		}
		s.next++
	}
	if s.sampleEvery > 0 && s.read >= s.nextSample {
		live := liveHeap()
		s.samples = append(s.samples, heapSample{s.read, live - min(live, s.base)})
		s.nextSample += s.sampleEvery
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	s.read += n
	return n, nil
}

// TestParseSetMemoryBounded: while a large request is read, the heap it
// holds stays under twice the bytes read so far; once the peer limit is
// passed, what was parsed is let go while the rest is skimmed.
func TestParseSetMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 26 MB")
	}
	const peers, room = 200000, 100000
	s := &peerStream{n: peers, sampleEvery: 1 << 20, base: liveHeap()}
	_, err := ParseSetFor(bufio.NewReaderSize(s, 64<<10), fakeCounter{n: core.MaxPeers - room})
	wantNoSpace(t, err, fmt.Sprint(core.MaxPeers))
	var peak heapSample
	for _, x := range s.samples {
		if x.live > peak.live {
			peak = x
		}
		if x.read > 4<<20 && x.live > 2*uint64(x.read) {
			t.Errorf("%d bytes held after reading %d", x.live, x.read)
		}
	}
	last := s.samples[len(s.samples)-1]
	t.Logf("read %d bytes; peak %d bytes held after %d read; %d held at the end", s.read, peak.live, peak.read, last.live)
	if last.live > peak.live/8 {
		t.Errorf("still %d bytes held after the refusal (peak %d)", last.live, peak.live)
	}
}
