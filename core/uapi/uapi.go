// SPDX-License-Identifier: MIT

// Package uapi implements the cross-platform userspace configuration
// protocol that wg(8) speaks to userspace WireGuard implementations over
// /var/run/wireguard/IFNAME.sock: "get=1" and "set=1" requests made of
// key=value lines, each answered with "errno=N" and an empty line.
//
// The package only translates. A set request becomes one core.Config change
// set handed to Handler.Apply as a whole, and a get request renders one
// core.Snapshot, so a request is applied all or nothing and a reply is a
// consistent picture of the tunnel.
//
// Errno convention on the wire: a failed request is answered with the
// errno.h code negated ("errno=-22" for EINVAL), which is what the reference
// userspace implementation sends and what wg(8)'s set path expects: it
// returns the number it reads as a negative error code. Error.Errno holds
// the positive code.
package uapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/wgplex/wgplex/core"
)

// Handler is the tunnel as the protocol sees it; core.Tunnel implements it.
// ServeConn calls it from one goroutine per connection, so implementations
// must be safe for concurrent use.
type Handler interface {
	// Apply applies a whole change set or nothing of it. It must copy
	// the keys it keeps: ServeConn wipes the change set's private and
	// preshared keys when Apply returns.
	Apply(core.Config) error
	// Snapshot returns a consistent read-out of the interface and its peers.
	Snapshot() core.Snapshot
}

// Error is a failed request together with the errno.h code the client is
// told. Errno is positive (EINVAL, not -EINVAL); the sign is added only when
// the reply is written.
type Error struct {
	// Errno is the positive errno.h code reported to the client.
	Errno int64
	// Err says what went wrong. It never contains key material.
	Err error

	// fatal marks errors after which the request stream cannot be trusted
	// (truncated request, over-long line): the connection must be dropped
	// rather than read further.
	fatal bool
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("uapi: %v (errno %d)", e.Err, e.Errno)
}

// Unwrap returns the underlying error, so that errors.Is sees core error
// kinds through an Error.
func (e *Error) Unwrap() error { return e.Err }

func newError(errno int64, format string, args ...any) *Error {
	return &Error{Errno: errno, Err: fmt.Errorf(format, args...)}
}

func fatalError(errno int64, format string, args ...any) *Error {
	e := newError(errno, format, args...)
	e.fatal = true
	return e
}

// applyError maps an error from Handler.Apply to the errno wg(8) should
// print. The core promises to wrap one of its error kinds; anything else is
// reported as an I/O error rather than guessed at.
func applyError(err error) *Error {
	var ue *Error
	if errors.As(err, &ue) {
		return ue
	}
	code := errnoIO
	switch {
	case errors.Is(err, core.ErrInvalidConfig):
		code = errnoInvalid
	case errors.Is(err, core.ErrPortInUse):
		code = errnoAddrInUse
	case errors.Is(err, core.ErrKeyStore):
		code = errnoIO
	case errors.Is(err, core.ErrKeyManaged):
		code = errnoPerm
	case errors.Is(err, core.ErrClosed):
		code = errnoNoDev
	case errors.Is(err, core.ErrTooManyPeers):
		code = errnoNoSpace
	}
	return &Error{Errno: code, Err: err}
}

// RequestHooks is an optional Handler interface: BeginRequest is called
// once a request line has been read, EndRequest when that request is
// answered or the connection ends, so a handler can hold a resource (the
// daemon: a second P) for exactly the time requests are parsed, applied
// and written out, and not while a connection waits for its next one.
type RequestHooks interface {
	BeginRequest()
	EndRequest()
}

// ServeConn answers requests on one connection until the client closes it:
// any number of get=1 and set=1 requests, each answered with its errno line.
// A set request that parses but is rejected, or does not parse, is answered
// with its errno and the connection stays usable. An unknown request line, a
// truncated request or an over-long line is answered with an errno when
// possible and ends the connection, because the rest of the stream can no
// longer be framed. ServeConn returns nil when the client closes the
// connection between requests; the caller closes conn.
func ServeConn(conn io.ReadWriter, h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A large reader buffer keeps a 50,000-peer set from costing one read
	// system call per few lines.
	r := bufio.NewReaderSize(conn, 64<<10)
	w := bufio.NewWriterSize(conn, 64<<10)
	var scratch []byte
	hooks, _ := h.(RequestHooks)
	inRequest := false
	end := func() {
		if inRequest {
			hooks.EndRequest()
			inRequest = false
		}
	}
	defer end()
	for {
		// The previous request is answered: it ends before the wait for
		// the next one, on every path that comes back here.
		end()
		op, _, err := readLine(r, &scratch)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return replyFatal(w, log, lineError(err))
		}
		if hooks != nil {
			hooks.BeginRequest()
			inRequest = true
		}
		switch string(op) {
		case "get=1":
			blank, _, err := readLine(r, &scratch)
			if err != nil {
				return replyFatal(w, log, lineError(err))
			}
			if len(blank) != 0 {
				return replyFatal(w, log, newError(errnoInvalid, "get request not followed by an empty line"))
			}
			var ext []Extension
			if e, ok := h.(Extender); ok {
				ext = e.Extensions()
			}
			if err := WriteGetExtended(w, h.Snapshot(), ext); err != nil {
				return err
			}
			if err := reply(w, nil); err != nil {
				return err
			}
		case "set=1":
			counter, _ := h.(PeerCounter)
			cfg, size, err := parseSet(r, counter)
			if err != nil {
				var ue *Error
				if !errors.As(err, &ue) {
					ue = &Error{Errno: errnoIO, Err: err, fatal: true}
				}
				if ue.fatal {
					e := replyFatal(w, log, ue)
					returnMemory(size)
					return e
				}
				log.Warn("uapi: set request rejected", "err", ue)
				if err := reply(w, ue); err != nil {
					return err
				}
				returnMemory(size)
				continue
			}
			var ue *Error
			if err := h.Apply(cfg); err != nil {
				ue = applyError(err)
				log.Warn("uapi: set request failed", "err", ue)
			}
			// The tunnel has copied what it keeps; the request's copies of
			// the private and preshared keys go now.
			WipeConfig(&cfg)
			cfg = core.Config{}
			if err := reply(w, ue); err != nil {
				return err
			}
			returnMemory(size)
		default:
			// The line is not echoed: a client that lost track of the
			// framing may be sending key material.
			return replyFatal(w, log, newError(errnoProto, "unknown request line of %d bytes", len(op)))
		}
	}
}

// returnMemoryAfter is the request size from which the memory its parsing
// took is handed back to the operating system once the request is done.
const returnMemoryAfter = 16 << 20

// returnMemory gives the memory a large request needed back to the system
// at once: the Go runtime would keep it for minutes, and a daemon that read
// one big request (or was sent one to be refused) should not look that
// size from then on. One collection per such request is cheap next to
// reading it.
func returnMemory(requestSize int) {
	if requestSize >= returnMemoryAfter {
		debug.FreeOSMemory()
	}
}

// reply writes the errno line and the empty line that end every answer.
func reply(w *bufio.Writer, e *Error) error {
	var code int64
	if e != nil {
		code = -e.Errno
	}
	b := make([]byte, 0, 32)
	b = append(b, "errno="...)
	b = strconv.AppendInt(b, code, 10)
	b = append(b, '\n', '\n')
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// replyFatal answers a request the connection cannot recover from and
// returns the error that ends ServeConn. The write is best effort: the
// client may already be gone.
func replyFatal(w *bufio.Writer, log *slog.Logger, e *Error) error {
	log.Warn("uapi: closing connection", "err", e)
	_ = reply(w, e)
	return e
}
