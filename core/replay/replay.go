// SPDX-License-Identifier: MIT

// Package replay implements the sliding-window filter that rejects replayed
// or too-old transport data counters (whitepaper §5.4.6), in the style of
// RFC 6479: a ring of 64-bit blocks where advancing the window only clears
// the blocks it moves over, so the cost of a packet does not depend on how
// far the counter jumped.
package replay

const (
	blockBits  = 64
	blockShift = 6 // log2(blockBits)
	// ringBlocks must be a power of two so that a block index maps to a
	// ring slot with a mask. 128 blocks keep 8192 bits (1 KiB per keypair),
	// the same budget as the Linux implementation.
	ringBlocks = 128
	ringMask   = ringBlocks - 1
)

// WindowSize is how many counters below the highest one accepted so far are
// still tracked: a counter c is accepted when highest-c <= WindowSize and c
// has not been seen. One block of the ring is sacrificed to the partial
// block holding the highest counter, which is why this is not ringBlocks*64.
const WindowSize = (ringBlocks - 1) * blockBits

// Filter remembers which counters of one receiving keypair have been seen.
// The zero value is ready for use and accepts counter 0.
//
// A Filter is not safe for concurrent use: the caller must serialise calls
// for a keypair (the engine validates counters on the per-peer receive path,
// after decryption, while holding the keypair's receive lock).
type Filter struct {
	// last is the highest counter accepted since the last Reset.
	last uint64
	ring [ringBlocks]uint64
}

// Validate reports whether counter is acceptable: below limit, not older than
// WindowSize behind the highest counter seen, and not seen before. An
// accepted counter is recorded, so a second call with it returns false.
//
// limit is the first counter the caller refuses (REJECT_AFTER_MESSAGES in
// the whitepaper); it is a parameter so that this package does not need to
// know protocol constants.
//
// Validate must only be called once the packet carrying counter has been
// authenticated; otherwise a forged counter could push the window forward and
// make genuine packets look too old.
func (f *Filter) Validate(counter, limit uint64) bool {
	if counter >= limit {
		return false
	}
	block := counter >> blockShift
	if counter > f.last {
		// Moving forward: clear every block between the old highest block
		// (exclusive) and the new one (inclusive). Past a full turn of the
		// ring all blocks are stale, so the loop is bounded by ringBlocks.
		lastBlock := f.last >> blockShift
		n := block - lastBlock
		if n > ringBlocks {
			n = ringBlocks
		}
		for i := uint64(1); i <= n; i++ {
			f.ring[(lastBlock+i)&ringMask] = 0
		}
		f.last = counter
	} else if f.last-counter > WindowSize {
		return false
	}
	slot := &f.ring[block&ringMask]
	bit := uint64(1) << (counter & (blockBits - 1))
	if *slot&bit != 0 {
		return false
	}
	*slot |= bit
	return true
}

// Reset forgets every counter, returning the filter to its zero state. The
// engine calls it when a keypair slot is reused for a new session.
func (f *Filter) Reset() {
	*f = Filter{}
}
