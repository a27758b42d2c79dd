// SPDX-License-Identifier: MIT

package core

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// A packet routed into the interface that no peer's allowed IPs cover is
// answered, as the kernel's WireGuard answers it, with an ICMP "host
// unreachable" (ICMPv6 "address unreachable") written back into the
// device, so that the sender fails at once instead of timing out. The
// error comes from the unreachable address itself: the tunnel has no
// address of its own to speak from, and the kernel would drop a packet
// arriving on the interface from one of its own addresses.
//
// Errors are never sent about errors, fragments after the first, or
// packets from or to a multicast, broadcast or unspecified address
// (RFC 1122 §3.2.2, RFC 4443 §2.4). They are rate-limited like the
// kernel's: per sender a burst of 6 then one a second (icmp_ratelimit),
// and in all at most 1000 a second after a burst of 50
// (icmp_msgs_per_sec, icmp_msgs_burst).

const (
	icmpPerSrcBurst   = 6
	icmpPerSrcEvery   = time.Second
	icmpTotalBurst    = 50
	icmpTotalPerSec   = 1000
	icmpMaxSenders    = 1024 // rate-limit entries kept; emptied when full
	icmpV4MaxSize     = 576  // RFC 1812 §4.3.2.3
	icmpV6MaxSize     = 1280 // RFC 4443 §2.4 (c)
	icmpHeaderLen     = 8
	icmpV4TypeUnreach = 3
	icmpV4CodeHost    = 1
	icmpV6TypeUnreach = 1
	icmpV6CodeAddr    = 3
)

// tokenBucket is a token bucket in nanoseconds of credit.
type tokenBucket struct {
	credit time.Duration
	last   time.Time
}

func (b *tokenBucket) take(now time.Time, every time.Duration, burst int) bool {
	full := every * time.Duration(burst)
	if b.last.IsZero() {
		b.credit = full
	} else {
		b.credit = min(full, b.credit+now.Sub(b.last))
	}
	b.last = now
	if b.credit < every {
		return false
	}
	b.credit -= every
	return true
}

// unreachResponder builds the ICMP errors of one device reader. It is used
// by that goroutine only, so it needs no lock.
type unreachResponder struct {
	clock   Clock
	total   tokenBucket
	perSrc  map[netip.Addr]*tokenBucket
	pending [][]byte
	spare   [][]byte
}

func newUnreachResponder(clock Clock) *unreachResponder {
	return &unreachResponder{clock: clock, perSrc: make(map[netip.Addr]*tokenBucket)}
}

// queue builds the error for pkt, if one is due and allowed.
func (r *unreachResponder) queue(pkt []byte) {
	src, ok := unreachableSource(pkt)
	if !ok {
		return
	}
	now := r.clock.Now()
	b := r.perSrc[src]
	if b == nil {
		if len(r.perSrc) >= icmpMaxSenders {
			clear(r.perSrc)
		}
		b = &tokenBucket{}
		r.perSrc[src] = b
	}
	if !b.take(now, icmpPerSrcEvery, icmpPerSrcBurst) ||
		!r.total.take(now, time.Second/icmpTotalPerSec, icmpTotalBurst) {
		return
	}
	var buf []byte
	if n := len(r.spare); n > 0 {
		buf, r.spare = r.spare[n-1][:0], r.spare[:n-1]
	}
	if out, ok := appendUnreachable(buf, pkt); ok {
		r.pending = append(r.pending, out)
	}
}

// flush writes what queue built into dev and keeps the buffers.
func (r *unreachResponder) flush(dev Device) (int, error) {
	if len(r.pending) == 0 {
		return 0, nil
	}
	n, err := dev.Write(r.pending, 0)
	r.spare = append(r.spare, r.pending...)
	clear(r.pending)
	r.pending = r.pending[:0]
	return n, err
}

// unreachableSource returns the sender of pkt when pkt may be answered
// with an ICMP error at all.
func unreachableSource(pkt []byte) (netip.Addr, bool) {
	if len(pkt) < 1 {
		return netip.Addr{}, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return netip.Addr{}, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || ihl > len(pkt) {
			return netip.Addr{}, false
		}
		if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
			return netip.Addr{}, false // not the first fragment
		}
		src := netip.AddrFrom4([4]byte(pkt[12:16]))
		dst := netip.AddrFrom4([4]byte(pkt[16:20]))
		if !unicast(src) || !unicast(dst) {
			return netip.Addr{}, false
		}
		if pkt[9] == 1 { // ICMP: answer only informational messages
			if ihl >= len(pkt) {
				return netip.Addr{}, false
			}
			switch pkt[ihl] {
			case 3, 4, 5, 11, 12:
				return netip.Addr{}, false
			}
		}
		return src, true
	case 6:
		if len(pkt) < 40 {
			return netip.Addr{}, false
		}
		src := netip.AddrFrom16([16]byte(pkt[8:24]))
		dst := netip.AddrFrom16([16]byte(pkt[24:40]))
		if !unicast(src) || !unicast(dst) {
			return netip.Addr{}, false
		}
		if pkt[6] == 58 { // ICMPv6: errors are types below 128
			if len(pkt) < 41 || pkt[40] < 128 {
				return netip.Addr{}, false
			}
		}
		return src, true
	}
	return netip.Addr{}, false
}

func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() &&
		a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// appendUnreachable appends to buf the ICMP or ICMPv6 destination
// unreachable answering pkt, which unreachableSource accepted.
func appendUnreachable(buf, pkt []byte) ([]byte, bool) {
	be := binary.BigEndian
	if pkt[0]>>4 == 4 {
		quote := pkt
		if tl := int(be.Uint16(pkt[2:4])); tl >= 20 && tl < len(quote) {
			quote = quote[:tl]
		}
		quote = quote[:min(len(quote), icmpV4MaxSize-20-icmpHeaderLen)]
		total := 20 + icmpHeaderLen + len(quote)
		buf = append(buf[:0], make([]byte, total)...)
		ip := buf[:20]
		ip[0] = 0x45
		ip[1] = 0xc0 // precedence "internetwork control", as the kernel sends errors
		be.PutUint16(ip[2:4], uint16(total))
		ip[8], ip[9] = 64, 1
		copy(ip[12:16], pkt[16:20])
		copy(ip[16:20], pkt[12:16])
		be.PutUint16(ip[10:12], ^checksum(ip, 0))
		icmp := buf[20:]
		icmp[0], icmp[1] = icmpV4TypeUnreach, icmpV4CodeHost
		copy(icmp[icmpHeaderLen:], quote)
		be.PutUint16(icmp[2:4], ^checksum(icmp, 0))
		return buf, true
	}
	quote := pkt
	if pl := 40 + int(be.Uint16(pkt[4:6])); pl < len(quote) {
		quote = quote[:pl]
	}
	quote = quote[:min(len(quote), icmpV6MaxSize-40-icmpHeaderLen)]
	plen := icmpHeaderLen + len(quote)
	buf = append(buf[:0], make([]byte, 40+plen)...)
	ip := buf[:40]
	ip[0] = 0x60
	be.PutUint16(ip[4:6], uint16(plen))
	ip[6], ip[7] = 58, 64
	copy(ip[8:24], pkt[24:40])
	copy(ip[24:40], pkt[8:24])
	icmp := buf[40:]
	icmp[0], icmp[1] = icmpV6TypeUnreach, icmpV6CodeAddr
	copy(icmp[icmpHeaderLen:], quote)
	// Pseudo-header: source, destination, upper-layer length, next header.
	sum := checksum(ip[8:40], 0)
	sum = checksum([]byte{0, 0, byte(plen >> 8), byte(plen), 0, 0, 0, 58}, uint32(sum))
	be.PutUint16(icmp[2:4], ^checksum(icmp, uint32(sum)))
	return buf, true
}

// checksum is the Internet checksum (RFC 1071) of b added to initial,
// folded, not yet complemented.
func checksum(b []byte, initial uint32) uint16 {
	sum := initial
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
