// SPDX-License-Identifier: MIT

//go:build !windows

package uapi

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultSocketDir is where wg(8) looks for IFNAME.sock.
const DefaultSocketDir = "/var/run/wireguard"

// removalPoll is how often the server checks that its socket file is still
// in place. A second is what an operator waiting for the daemon to exit after
// "rm wg0.sock" will tolerate, and a stat per second costs nothing.
const removalPoll = time.Second

// Server serves the protocol on a Unix socket, one goroutine per connection.
type Server struct {
	path  string
	ln    *net.UnixListener
	ident os.FileInfo // the socket file as created, to tell it from a replacement

	removed chan struct{} // closed once the socket file is gone or replaced
	done    chan struct{} // closed by Close
	once    sync.Once

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // connection handlers and the removal watcher
}

// Listen creates dir/ifname.sock, readable and writable by its owner only,
// and starts watching it. dir is created with mode 0755 if missing. A socket
// file left by a process that died is replaced; if a live process answers
// on it, or the path is not a socket, Listen fails and touches nothing.
func Listen(dir, ifname string) (*Server, error) {
	if ifname == "" || ifname == "." || ifname == ".." || strings.ContainsAny(ifname, "/\x00") {
		return nil, fmt.Errorf("uapi: invalid interface name %q", ifname)
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ifname+".sock")
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := bindPrivate(dir, path)
	if err != nil {
		return nil, err
	}
	ident, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("uapi: %w", err)
	}
	s := &Server{
		path:    path,
		ln:      ln,
		ident:   ident,
		removed: make(chan struct{}),
		done:    make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
	}
	s.wg.Add(1)
	go s.watch(removalPoll)
	return s, nil
}

// ensureDir creates dir with mode 0755 if it does not exist. An existing
// directory keeps the permissions its administrator gave it.
func ensureDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("uapi: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("uapi: %w", err)
	}
	// MkdirAll's mode passes through the umask; wg(8) run by any user must
	// be able to list the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("uapi: %w", err)
	}
	return nil
}

// removeStale clears the way for the socket: nothing there is fine, a socket
// nobody listens on is removed, anything else is refused.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("uapi: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("uapi: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("uapi: %s is in use by a running process", path)
	}
	// Only "connection refused" proves that nobody listens; a permission
	// error or a timeout says nothing about the owner being dead.
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("uapi: cannot tell whether %s is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("uapi: remove stale socket: %w", err)
	}
	return nil
}

// bindPrivate binds the socket in a fresh 0700 directory next to path,
// restricts it to 0600 there, and only then links it into place. Binding at
// path directly would leave the socket open to anyone for the moment between
// bind and chmod when the umask is lax, and changing the umask instead would
// affect every goroutine of the process. Linking (rather than renaming)
// fails instead of replacing a socket another daemon created meanwhile.
func bindPrivate(dir, path string) (*net.UnixListener, error) {
	tmp, err := os.MkdirTemp(dir, ".uapi-")
	if err != nil {
		return nil, fmt.Errorf("uapi: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpSock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("uapi: %w", err)
	}
	// The file is managed here (it moves, and Close removes it only if it
	// is still ours), not by the listener.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("uapi: %w", err)
	}
	if err := os.Link(tmpSock, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			ln.Close()
			return nil, fmt.Errorf("uapi: %s appeared while starting: %w", path, err)
		}
		// Some file systems refuse hard links. A rename still publishes the
		// socket only once it is private; it merely loses the guard against
		// a socket created in the last moments.
		if err := os.Rename(tmpSock, path); err != nil {
			ln.Close()
			return nil, fmt.Errorf("uapi: %w", err)
		}
	}
	return ln, nil
}

// Path returns the socket file's path.
func (s *Server) Path() string { return s.path }

// Removed is closed when the socket file is deleted or replaced from
// outside. The daemon should exit then, as the reference implementation
// does: that is how an administrator (or wg-quick) stops it.
func (s *Server) Removed() <-chan struct{} { return s.removed }

// watch polls the socket file until Close.
func (s *Server) watch(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		if !s.stillOurs() {
			close(s.removed)
			return
		}
	}
}

// stillOurs reports whether the socket file at path is the one Listen
// created. Errors other than "not there" do not count as removal, so that a
// transient failure cannot make the daemon exit.
func (s *Server) stillOurs() bool {
	fi, err := os.Lstat(s.path)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	return os.SameFile(fi, s.ident)
}

// Serve accepts connections and answers each with ServeConn in its own
// goroutine until Close, then returns nil. It returns early only if
// accepting fails for good. log may be nil.
func (s *Server) Serve(h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			// Running out of file descriptors is worth waiting out rather
			// than taking the daemon down.
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("uapi: accept failed, retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.done:
					return nil
				}
				continue
			}
			return fmt.Errorf("uapi: accept: %w", err)
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			return nil
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			if err := ServeConn(c, h, log); err != nil {
				log.Debug("uapi: connection ended", "err", err)
			}
		}()
	}
}

// track registers a connection so that Close can end it; it refuses once
// Close has begun, so that no handler starts after Close waits for them.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops accepting, ends every open connection, waits for their
// handlers, and removes the socket file if it is still the one Listen
// created (a newer daemon's socket is left alone).
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		err = s.ln.Close()
		s.wg.Wait()
		if s.stillOurs() {
			if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
				err = rerr
			}
		}
	})
	return err
}
