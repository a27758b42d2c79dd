// SPDX-License-Identifier: MIT

package core

import "errors"

// The core's one list of error kinds. Errors returned by Tunnel wrap one of
// these (test with errors.Is) so that callers such as the UAPI can map them
// to the errno values wg(8) expects without parsing messages.
var (
	// ErrInvalidConfig: a change set is malformed or inconsistent (EINVAL).
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrPortInUse: the listen port could not be bound (EADDRINUSE).
	ErrPortInUse = errors.New("listen port in use")
	// ErrKeyStore: the key store failed or refused (EIO).
	ErrKeyStore = errors.New("key store error")
	// ErrKeyManaged: private_key= was given while a key store other than the
	// in-memory one is in charge (EPERM).
	ErrKeyManaged = errors.New("private key is managed by a key store")
	// ErrClosed: the tunnel is closed (ENODEV).
	ErrClosed = errors.New("tunnel closed")
	// ErrTooManyPeers: the peer limit was reached (ENOSPC).
	ErrTooManyPeers = errors.New("too many peers")
)
