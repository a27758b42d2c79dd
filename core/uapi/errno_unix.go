// SPDX-License-Identifier: MIT

//go:build !windows

package uapi

import "syscall"

// The errno.h codes this package reports, taken from the platform because
// wg(8) hands them to strerror on the same machine (EADDRINUSE is 98 on
// Linux but 48 on the BSDs and macOS).
const (
	errnoInvalid   = int64(syscall.EINVAL)
	errnoAddrInUse = int64(syscall.EADDRINUSE)
	errnoIO        = int64(syscall.EIO)
	errnoPerm      = int64(syscall.EPERM)
	errnoNoDev     = int64(syscall.ENODEV)
	errnoNoSpace   = int64(syscall.ENOSPC)
	errnoProto     = int64(syscall.EPROTO)
	errnoMsgSize   = int64(syscall.EMSGSIZE)
)
