// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestProbeAfter(t *testing.T) {
	for _, c := range []struct {
		waited, hit, want bool
	}{
		{waited: false, hit: false, want: true}, // queued before Read: load
		{waited: false, hit: true, want: true},
		{waited: true, hit: true, want: true},   // bursts seen: keep asking
		{waited: true, hit: false, want: false}, // a lone packet woke the reader
	} {
		r := newReader()
		r.probeHit = c.hit
		if got := r.probeAfter(c.waited); got != c.want {
			t.Errorf("probeAfter(waited=%v) with probeHit=%v = %v, want %v", c.waited, c.hit, got, c.want)
		}
	}
}

// udpDevice is a device with an address and a UDP socket on the kernel's
// side of it.
func udpDevice(t *testing.T) (*Device, *net.UDPConn) {
	d, ns := vnetDevice(t)
	conn := listenUDPIn(t, ns)
	t.Cleanup(func() { conn.Close() })
	return d, conn
}

// readUDP reads from d until it has want datagrams to port 9999, skipping
// other packets (router solicitations and the like), and returns their
// payloads and the batch sizes of the Reads that returned them.
func readUDP(t *testing.T, d *Device, bufs [][]byte, sizes []int, offset, want int) (payloads [][]byte, batches []int) {
	t.Helper()
	// A Read that drops everything would block for ever: the deadline
	// ends it.
	if err := d.file.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	defer d.file.SetReadDeadline(time.Time{})
	for len(payloads) < want {
		n, err := d.Read(bufs, sizes, offset)
		if err != nil {
			t.Fatalf("read %d of %d datagrams: %v", len(payloads), want, err)
		}
		got := 0
		for i := range n {
			p := bufs[i][offset : offset+sizes[i]]
			if len(p) < 28 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(p[22:]) != 9999 {
				continue
			}
			checkPacket(t, p)
			payloads = append(payloads, bytes.Clone(p[28:]))
			got++
		}
		if got > 0 {
			batches = append(batches, got)
		}
		// The caller owns its buffers again once Read returns: whatever
		// Read keeps for later must not live in them.
		for i := range n {
			for j := range bufs[i] {
				bufs[i][j] = 0xee
			}
		}
	}
	return payloads, batches
}

// TestReadProbe checks when Read asks for more packets after its first: a
// burst queued before Read comes in one batch, and the reader remembers
// whether asking found more.
func TestReadProbe(t *testing.T) {
	d, conn := udpDevice(t)
	const offset = 16
	bufs, sizes := makeBufs(readBatch, offset+1500)
	peer := netip.AddrPortFrom(peerAddr, 9999)
	send := func(k int) {
		for i := range k {
			if _, err := conn.WriteToUDPAddrPort(payloadOf(100, byte(i)), peer); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Queued before Read: the first packet did not have to be waited
	// for, so Read asks for more and gets the whole burst.
	send(3)
	got, batches := readUDP(t, d, bufs, sizes, offset, 3)
	for i, p := range got {
		if !bytes.Equal(p, payloadOf(100, byte(i))) {
			t.Fatalf("datagram %d differs", i)
		}
	}
	if len(batches) != 1 {
		t.Fatalf("a queued burst of 3 came in batches %v, want one", batches)
	}
	if !d.rd.probeHit {
		t.Fatal("asking for more found the burst, but probeHit is false")
	}

	// One datagram: whether the reader waited for it or not, it asks once
	// more (probeHit), finds nothing and remembers that.
	send(1)
	readUDP(t, d, bufs, sizes, offset, 1)
	if d.rd.probeHit {
		t.Fatal("asking for more found nothing, but probeHit is true")
	}

	// And a burst after that still comes whole once queued.
	send(5)
	if _, batches = readUDP(t, d, bufs, sizes, offset, 5); len(batches) != 1 {
		t.Fatalf("a queued burst of 5 came in batches %v, want one", batches)
	}
	if d.Dropped() != 0 {
		t.Fatalf("%d packets dropped", d.Dropped())
	}
}

// TestReadBufferSizes reads packets of every kind of fit into buffers
// smaller than the largest packet: a small packet lands in the caller's
// buffer; a small super-packet whose segments do not fit the batch is
// kept for the next Reads; a plain packet larger than the buffer is
// dropped without disturbing the next.
func TestReadBufferSizes(t *testing.T) {
	d, conn := udpDevice(t)
	const offset = 16
	bufs, sizes := makeBufs(1, offset+600)
	peer := netip.AddrPortFrom(peerAddr, 9999)

	// A small super-packet (three 100-byte datagrams sent with
	// UDP_SEGMENT), read one segment per Read.
	const segSize, segs = 100, 3
	payload := payloadOf(segSize*segs, 5)
	oob := segmentOOB(segSize)
	if _, _, err := conn.WriteMsgUDPAddrPort(payload, oob, peer); err != nil {
		t.Skipf("UDP GSO send not supported here: %v", err)
	}
	got, _ := readUDP(t, d, bufs, sizes, offset, segs)
	if !bytes.Equal(bytes.Join(got, nil), payload) {
		t.Fatal("segments do not add up to the datagram sent")
	}

	// Larger than the caller's buffer: dropped, counted, and the next
	// packet is read intact.
	if _, err := conn.WriteToUDPAddrPort(payloadOf(1000, 1), peer); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteToUDPAddrPort(payloadOf(500, 2), peer); err != nil {
		t.Fatal(err)
	}
	got, _ = readUDP(t, d, bufs, sizes, offset, 1)
	if !bytes.Equal(got[0], payloadOf(500, 2)) {
		t.Fatal("the datagram after the dropped one differs")
	}
	if d.Dropped() != 1 {
		t.Fatalf("Dropped() = %d, want 1", d.Dropped())
	}
}

// TestWriteOneMatchesCoalesce checks that a batch of one, which Write sends
// without coalescing, goes out as coalescing would have sent it: the packet
// unchanged behind an all-zero virtio header. The write goes into a pipe,
// where the bytes can be read back.
func TestWriteOneMatchesCoalesce(t *testing.T) {
	tcp4, tcp6, udp4 := v4flow(), v6flow(), v4flow()
	udp4.udp = true
	icmp := []byte{8, 0, 0xf7, 0xff, 0, 0, 0, 0}
	pkts := map[string][]byte{
		"tcp4":    tcp4.build(1000, tcpACK, 1, payloadOf(1200, 1)),
		"tcp4psh": tcp4.build(1000, tcpACK|tcpPSH, 1, payloadOf(100, 2)),
		"tcp6":    tcp6.build(1000, tcpACK, 1, payloadOf(1200, 3)),
		"udp4":    udp4.build(0, 0, 1, payloadOf(500, 4)),
		"icmp":    append(ipv4Header(unix.IPPROTO_ICMP, peerAddr, tunAddr, len(icmp)), icmp...),
		"garbage": payloadOf(33, 5),
		"empty":   {},
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	rc, err := pw.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const offset = 16
	w := newVnetWriterForTest(true, true)
	buf := make([]byte, 70000)
	for name, p := range pkts {
		out := coalesceAll(t, true, true, [][]byte{p}, offset)
		if len(out) != 1 || out[0].n != 1 || out[0].hdr != (vnetHdr{}) || !bytes.Equal(out[0].pkt, p) {
			t.Fatalf("%s: coalescing a batch of one gives %+v", name, out)
		}
		b := append(make([]byte, offset), p...)
		if n, err := w.writeBatch(rc, [][]byte{b}, offset); err != nil || n != 1 {
			t.Fatalf("%s: writeBatch = %d, %v", name, n, err)
		}
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := append(make([]byte, vnetHdrLen), p...)
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("%s: wrote % x, want % x", name, buf[:n], want)
		}
		if len(w.iov) != 0 {
			t.Fatalf("%s: the writer keeps %d iovecs", name, len(w.iov))
		}
	}
}
