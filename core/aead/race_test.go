// SPDX-License-Identifier: MIT

//go:build race

package aead

// raceEnabled: the race detector's instrumentation can add allocations.
const raceEnabled = true
