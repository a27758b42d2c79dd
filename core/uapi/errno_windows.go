// SPDX-License-Identifier: MIT

//go:build windows

package uapi

// On Windows the protocol runs over a named pipe and clients format the
// code as a Win32 error, so the codes are the closest Win32 errors rather
// than errno.h values (as the reference implementation does there).
const (
	errnoInvalid   int64 = 87  // ERROR_INVALID_PARAMETER
	errnoAddrInUse int64 = 183 // ERROR_ALREADY_EXISTS
	errnoIO        int64 = 109 // ERROR_BROKEN_PIPE
	errnoPerm      int64 = 5   // ERROR_ACCESS_DENIED
	errnoNoDev     int64 = 55  // ERROR_DEV_NOT_EXIST
	errnoNoSpace   int64 = 112 // ERROR_DISK_FULL
	errnoProto     int64 = 123 // ERROR_INVALID_NAME
	errnoMsgSize   int64 = 111 // ERROR_BUFFER_OVERFLOW
)
