// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOffloadUDPWithKernel moves UDP super-packets through a real device in
// both directions: a local socket sends 64 KiB with UDP_SEGMENT, which the
// kernel hands over whole (USO) or already segmented, and Read must return
// the same datagrams either way; then a batch of equal datagrams written to
// the device, which Write merges into one GSO packet, must reach a local
// socket one by one and intact.
func TestOffloadUDPWithKernel(t *testing.T) {
	requireTUN(t)
	ns := newNetns(t)
	name := "wo" + randSuffix(t)[:6]
	d := createIn(t, ns, name, 1420)
	t.Logf("offloads: %v", d.Offloads())
	ipCmd(t, ns, "addr", "add", tunAddr.String()+"/24", "dev", name)
	ipCmd(t, ns, "link", "set", name, "up")

	conn := listenUDPIn(t, ns)
	defer conn.Close()
	const segSize, segs = 1000, 23
	payload := payloadOf(segSize*segs-17, 9) // a short last segment
	oob := segmentOOB(segSize)
	peer := &net.UDPAddr{IP: peerAddr.AsSlice(), Port: 9999}
	if _, _, err := conn.WriteMsgUDP(payload, oob, peer); err != nil {
		t.Skipf("UDP GSO send not supported here: %v", err)
	}

	const offset = 16
	bufs, sizes := makeBufs(readBatch, offset+2000)
	var got []byte
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; n < segs; {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d segments", n, segs)
		}
		k, err := d.Read(bufs, sizes, offset)
		if err != nil {
			t.Fatal(err)
		}
		for i := range k {
			p := bufs[i][offset : offset+sizes[i]]
			if len(p) < 28 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_UDP || binary.BigEndian.Uint16(p[22:]) != 9999 {
				continue // router solicitations and the like
			}
			checkPacket(t, p)
			if want := min(segSize, len(payload)-n*segSize); len(p)-28 != want {
				t.Fatalf("segment %d has %d bytes of payload, want %d", n, len(p)-28, want)
			}
			got = append(got, p[28:]...)
			n++
		}
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("segments do not add up to the datagram sent")
	}

	// Device to kernel, merged on the way.
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	f := flow{udp: true, sport: 5555, ttl: 64, src: peerAddr.AsSlice(), dst: tunAddr.AsSlice()}
	var batch [][]byte
	for i := range 10 {
		p := f.build(0, 0, uint16(i), payloadOf(1200, byte(i)))
		binary.BigEndian.PutUint16(p[22:], local.Port())
		// Port changed: redo the checksum.
		binary.BigEndian.PutUint16(p[26:], 0)
		ps := add16(add16(refSum(p[16:20], refSum(p[12:16], 0)), unix.IPPROTO_UDP), uint16(len(p)-20))
		binary.BigEndian.PutUint16(p[26:], ^refSum(p[20:], ps))
		batch = append(batch, append(make([]byte, offset), p...))
	}
	if n, err := d.Write(batch, offset); err != nil || n != len(batch) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	for i := range batch {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if from != netip.AddrPortFrom(peerAddr, 5555) || !bytes.Equal(buf[:n], payloadOf(1200, byte(i))) {
			t.Fatalf("datagram %d: %d bytes from %v differ", i, n, from)
		}
	}
}
