// SPDX-License-Identifier: MIT

// Package windows is wgplex's packet device on Windows: a core.Device on a
// Wintun adapter (golang.zx2c4.com/wintun), which needs wintun.dll next to
// the executable or on the DLL search path.
//
// Packets move through the Wintun session's shared-memory rings, one per
// call. The MTU is read and written through the IP Helper API by the
// adapter's LUID (GetIpInterfaceEntry / SetIpInterfaceEntry, for IPv4 and
// IPv6). SetMTU reports EventMTUUpdate; MTU changes made by other programs
// are not watched.
//
// The Windows code is built and vetted on every change but cannot run on
// the Linux CI hosts; only the platform-independent checks in this package
// are unit-tested there.
package windows
