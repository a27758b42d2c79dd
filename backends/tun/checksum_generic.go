// SPDX-License-Identifier: MIT

//go:build linux && (!amd64 || purego)

package tun

// No assembly here: sum16 always takes sum64Generic.
const (
	haveAsmSum   = false
	minAsmSumLen = 0
)

func sum64Asm([]byte) uint64 { panic("tun: no assembly checksum on this architecture") }
