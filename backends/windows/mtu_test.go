// SPDX-License-Identifier: MIT

package windows

import "testing"

func TestCheckMTU(t *testing.T) {
	for _, mtu := range []int{1280, 1420, 65535} {
		if err := checkMTU(mtu); err != nil {
			t.Errorf("checkMTU(%d) = %v", mtu, err)
		}
	}
	for _, mtu := range []int{-1, 0, 576, 1279, 65536} {
		if err := checkMTU(mtu); err == nil {
			t.Errorf("checkMTU(%d) accepted", mtu)
		}
	}
}

func TestRingCapacity(t *testing.T) {
	// Wintun wants a power of two between 128 KiB and 64 MiB.
	if ringCapacity&(ringCapacity-1) != 0 || ringCapacity < 0x20000 || ringCapacity > 0x4000000 {
		t.Errorf("ring capacity %#x", ringCapacity)
	}
}

func TestCopyPacket(t *testing.T) {
	dst := make([]byte, 20)
	if n, ok := copyPacket(dst, 16, []byte{1, 2, 3, 4}); !ok || n != 4 || dst[16] != 1 || dst[19] != 4 {
		t.Errorf("copyPacket = %d, %v, %v", n, ok, dst)
	}
	for _, c := range []struct {
		off int
		n   int
	}{{17, 4}, {21, 0}, {-1, 0}} {
		if _, ok := copyPacket(dst, c.off, make([]byte, c.n)); ok {
			t.Errorf("copyPacket(offset %d, %d bytes) fitted into 20", c.off, c.n)
		}
	}
}
