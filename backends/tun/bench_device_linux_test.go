// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/wgplex/wgplex/internal/coldbench"
	"golang.org/x/sys/unix"
)

// Benchmarks through a real device, in a namespace of their own: what one
// packet costs on its way through Write and Read with the kernel in the
// loop, warm and with the caches emptied between packets (as between pings
// spaced apart, where every hop starts cold), and what a full batch costs.

// benchOffset is the headroom the engine leaves in front of a packet.
const benchOffset = 16

// vnetDevice creates a device with the virtio header (offloads),
// addressed and up, in a fresh namespace; it skips where the kernel has no
// virtio header for TUN.
func vnetDevice(tb testing.TB) (*Device, string) {
	requireTUN(tb)
	ns := newNetns(tb)
	name := "wv" + randSuffix(tb)[:6]
	d := createIn(tb, ns, name, 1420)
	if !d.off.vnet {
		tb.Skip("no virtio header on this kernel")
	}
	tb.Logf("offloads: %v", d.Offloads())
	ipCmd(tb, ns, "addr", "add", tunAddr.String()+"/24", "dev", name)
	ipCmd(tb, ns, "link", "set", name, "up")
	return d, ns
}

// echoRequest is an ICMP echo request from the peer to the kernel's
// address, with headroom.
func echoRequest() []byte {
	icmp := make([]byte, 8+56) // ping(8)'s default size
	icmp[0] = 8
	binary.BigEndian.PutUint16(icmp[4:], 0x4242)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	p := append(make([]byte, benchOffset), ipv4Header(unix.IPPROTO_ICMP, peerAddr, tunAddr, len(icmp))...)
	return append(p, icmp...)
}

// echoReader reads d on its own goroutine, with buffers shaped like the
// engine's (a full batch of MTU-sized buffers), and signals every echo reply.
func echoReader(d *Device) <-chan struct{} {
	got := make(chan struct{})
	go func() {
		defer close(got)
		bufs, sizes := makeBufs(readBatch, benchOffset+1500)
		for {
			n, err := d.Read(bufs, sizes, benchOffset)
			if err != nil {
				return
			}
			for i := range n {
				p := bufs[i][benchOffset : benchOffset+sizes[i]]
				if len(p) >= 28 && p[0]>>4 == 4 && p[9] == unix.IPPROTO_ICMP && p[20] == 0 {
					got <- struct{}{}
				}
			}
		}
	}()
	return got
}

// benchPingPong writes one echo request per iteration and waits until the
// reader has read the kernel's reply: one Write and one Read of a lone
// small packet, the reader parked in between, as a ping crosses a hop.
func benchPingPong(b *testing.B, cold bool) {
	d, _ := vnetDevice(b)
	got := echoReader(d)
	ping := [][]byte{echoRequest()}
	coldbench.Loop(b, cold, func() {
		if n, err := d.Write(ping, benchOffset); err != nil || n != 1 {
			b.Fatalf("Write = %d, %v", n, err)
		}
		if _, ok := <-got; !ok {
			b.Fatal("reader stopped")
		}
	})
	b.StopTimer()
	d.Close()
	for range got {
	}
}

func BenchmarkPingPong(b *testing.B)     { benchPingPong(b, false) }
func BenchmarkPingPongCold(b *testing.B) { benchPingPong(b, true) }

// BenchmarkReadUDPGSO sends 64 KiB with UDP_SEGMENT from a local socket
// into the device, which the kernel hands over as one super-packet (USO) or
// as segments, and reads the datagrams back: the read side of a bulk
// transfer, in full batches.
func BenchmarkReadUDPGSO(b *testing.B) {
	d, ns := vnetDevice(b)
	conn := listenUDPIn(b, ns)
	defer conn.Close()
	const segSize, segs = 1372, 47
	payload := payloadOf(segSize*segs, 3)
	oob := segmentOOB(segSize)
	peer := &net.UDPAddr{IP: peerAddr.AsSlice(), Port: 9999}
	bufs, sizes := makeBufs(readBatch, benchOffset+1500)
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := conn.WriteMsgUDP(payload, oob, peer); err != nil {
			b.Skipf("UDP GSO send not supported here: %v", err)
		}
		for n := 0; n < segs; {
			k, err := d.Read(bufs, sizes, benchOffset)
			if err != nil {
				b.Fatal(err)
			}
			for i := range k {
				p := bufs[i][benchOffset : benchOffset+sizes[i]]
				if len(p) >= 28 && p[9] == unix.IPPROTO_UDP && binary.BigEndian.Uint16(p[22:]) == 9999 {
					n++
				}
			}
		}
	}
}

// BenchmarkWriteTCPBatch writes a batch of 48 consecutive segments of one
// TCP flow, which Write coalesces into one GSO packet: the write side of a
// bulk transfer. Nothing listens, so the kernel answers with a reset that
// the reader drains.
func BenchmarkWriteTCPBatch(b *testing.B) {
	d, _ := vnetDevice(b)
	got := echoReader(d) // drains whatever the kernel sends back
	f := v4flow()
	f.src, f.dst = peerAddr.AsSlice(), tunAddr.AsSlice()
	bufs := make([][]byte, 48)
	for i := range bufs {
		bufs[i] = append(make([]byte, benchOffset), f.build(uint32(i*1368), tcpACK, 1, payloadOf(1368, 0))...)
	}
	b.SetBytes(48 * 1368)
	b.ResetTimer()
	for b.Loop() {
		if n, err := d.Write(bufs, benchOffset); err != nil || n != len(bufs) {
			b.Fatalf("Write = %d, %v", n, err)
		}
	}
	b.StopTimer()
	d.Close()
	for range got {
	}
}
