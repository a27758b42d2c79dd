// SPDX-License-Identifier: MIT

//go:build !race

package udp

const raceEnabled = false
