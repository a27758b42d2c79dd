// SPDX-License-Identifier: MIT

//go:build race

package aead

// raceEnabled: the race detector's instrumentation can add allocations,
// and makes the exhaustive checks about ten times slower (see exhaustive).
const raceEnabled = true
