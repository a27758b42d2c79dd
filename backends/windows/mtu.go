// SPDX-License-Identifier: MIT

package windows

import "fmt"

// minMTU and maxMTU bound what SetMTU accepts: IPv6 needs 1280, and the
// IP Helper API takes a 32-bit value but no adapter carries more than a
// 64 KiB datagram.
const (
	minMTU = 1280
	maxMTU = 1<<16 - 1
)

// checkMTU rejects MTUs the adapter cannot have.
func checkMTU(mtu int) error {
	if mtu < minMTU || mtu > maxMTU {
		return fmt.Errorf("windows: MTU %d out of range [%d, %d]", mtu, minMTU, maxMTU)
	}
	return nil
}

// ringCapacity is the size of each Wintun ring: 8 MiB, a power of two
// between wintun.RingCapacityMin and RingCapacityMax, enough for a burst
// of full-size packets while the engine is busy.
const ringCapacity = 8 << 20

// copyPacket copies a received packet to dst[offset:], returning its length
// or false if it does not fit.
func copyPacket(dst []byte, offset int, pkt []byte) (int, bool) {
	if offset < 0 || offset > len(dst) || len(pkt) > len(dst)-offset {
		return 0, false
	}
	return copy(dst[offset:], pkt), true
}
