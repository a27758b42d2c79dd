// SPDX-License-Identifier: MIT

package bsd

import "encoding/binary"

// Kernel structures are in host byte order. Every platform wgplex is built
// for on these systems (amd64, arm64) is little-endian.

func nativeUint16(b []byte) uint16       { return binary.NativeEndian.Uint16(b) }
func nativeUint32(b []byte) uint32       { return binary.NativeEndian.Uint32(b) }
func putNativeUint32(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }
