// SPDX-License-Identifier: MIT

//go:build windows

package uapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// DefaultSocketDir is, on Windows, the named-pipe directory wg.exe looks in
// (see PipeDir); the daemon passes it to Listen just as on Unix.
const DefaultSocketDir = PipeDir

// pipeBuffer is the size of each pipe instance's in and out buffers.
const pipeBuffer = 64 << 10

// Server serves the protocol on a named pipe, one goroutine per
// connection. One pipe instance always waits for the next client, so the
// name stays taken (by this process) for as long as the server runs.
type Server struct {
	path string
	name *uint16
	sa   *windows.SecurityAttributes

	removed chan struct{} // never closed: a pipe cannot be removed from outside
	done    chan struct{}
	once    sync.Once

	// stop is a manual-reset event that Close signals to end a wait for
	// a client, whenever that wait starts.
	stop windows.Handle

	mu        sync.Mutex
	closed    bool
	pending   windows.Handle // the instance waiting for a client, or 0
	accepting bool           // accept owns pending and is waiting on it
	conns     map[*os.File]struct{}
	wg        sync.WaitGroup
}

// Listen creates the pipe dir\ifname (dir is PipeDir in production) with
// the PipeSDDL security descriptor. It fails if the pipe exists already,
// whoever created it: the first instance is created with
// FILE_FLAG_FIRST_PIPE_INSTANCE.
func Listen(dir, ifname string) (*Server, error) {
	if !validPipeIfname(ifname) {
		return nil, fmt.Errorf("uapi: invalid interface name %q", ifname)
	}
	sd, err := windows.SecurityDescriptorFromString(PipeSDDL)
	if err != nil {
		return nil, fmt.Errorf("uapi: security descriptor: %w", err)
	}
	path := pipePath(dir, ifname)
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("uapi: %w", err)
	}
	s := &Server{
		path:    path,
		name:    name,
		sa:      &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd},
		removed: make(chan struct{}),
		done:    make(chan struct{}),
		conns:   make(map[*os.File]struct{}),
	}
	if s.stop, err = windows.CreateEvent(nil, 1, 0, nil); err != nil {
		return nil, fmt.Errorf("uapi: %w", err)
	}
	h, err := s.newInstance(true)
	if err != nil {
		windows.CloseHandle(s.stop)
		return nil, err
	}
	s.pending = h
	return s, nil
}

// newInstance creates one instance of the pipe, for overlapped I/O and
// local clients only.
func (s *Server) newInstance(first bool) (windows.Handle, error) {
	flags := uint32(windows.PIPE_ACCESS_DUPLEX | windows.FILE_FLAG_OVERLAPPED)
	if first {
		flags |= windows.FILE_FLAG_FIRST_PIPE_INSTANCE
	}
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE | windows.PIPE_WAIT | windows.PIPE_REJECT_REMOTE_CLIENTS)
	h, err := windows.CreateNamedPipe(s.name, flags, mode, windows.PIPE_UNLIMITED_INSTANCES, pipeBuffer, pipeBuffer, 0, s.sa)
	if err != nil {
		return 0, fmt.Errorf("uapi: create pipe %s: %w", s.path, err)
	}
	return h, nil
}

// Path returns the pipe's name.
func (s *Server) Path() string { return s.path }

// Removed is never closed on Windows: a pipe has no file that an
// administrator could delete. The daemon is stopped as a service instead.
func (s *Server) Removed() <-chan struct{} { return s.removed }

// Serve accepts connections and answers each with ServeConn in its own
// goroutine until Close, then returns nil. log may be nil.
func (s *Server) Serve(h Handler, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		f, err := s.accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			return err
		}
		if !s.track(f) {
			f.Close()
			return nil
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(f)
			if err := ServeConn(f, h, log); err != nil && !errors.Is(err, io.EOF) {
				log.Debug("uapi: connection ended", "err", err)
			}
		}()
	}
}

// accept waits for a client on the pending instance, puts a fresh instance
// in its place, and returns the connected one as an *os.File (which Go
// drives through its I/O completion port, so Close interrupts a read).
func (s *Server) accept() (*os.File, error) {
	s.mu.Lock()
	h := s.pending
	if s.closed || h == 0 {
		s.mu.Unlock()
		return nil, os.ErrClosed
	}
	s.accepting = true
	s.mu.Unlock()

	err := connectPipe(h, s.stop)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepting = false
	if s.closed {
		windows.CloseHandle(h)
		return nil, os.ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("uapi: accept on %s: %w", s.path, err)
	}
	next, err := s.newInstance(false)
	if err != nil {
		// The client is dropped rather than leave no instance waiting.
		windows.DisconnectNamedPipe(h)
		return nil, err
	}
	s.pending = next
	return os.NewFile(uintptr(h), s.path), nil
}

// connectPipe waits for a client to connect to instance h, or for the
// event stop.
func connectPipe(h, stop windows.Handle) error {
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(ev)
	ov := windows.Overlapped{HEvent: ev}
	err = windows.ConnectNamedPipe(h, &ov)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_PIPE_CONNECTED):
		return nil
	case !errors.Is(err, windows.ERROR_IO_PENDING):
		return err
	}
	if _, err := windows.WaitForMultipleObjects([]windows.Handle{ev, stop}, false, windows.INFINITE); err != nil {
		windows.CancelIoEx(h, &ov)
	}
	if ev, _ := windows.WaitForSingleObject(stop, 0); ev == windows.WAIT_OBJECT_0 {
		windows.CancelIoEx(h, &ov)
	}
	// Wait for the operation to finish either way: ov must not be
	// released while the kernel may still write to it.
	var n uint32
	return windows.GetOverlappedResult(h, &ov, &n, true)
}

// track registers a connection so that Close can end it.
func (s *Server) track(f *os.File) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[f] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(f *os.File) {
	f.Close()
	s.mu.Lock()
	delete(s.conns, f)
	s.mu.Unlock()
}

// Close stops accepting, ends every open connection and waits for their
// handlers. The pipe name is free once the last instance is closed.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		s.closed = true
		if !s.accepting && s.pending != 0 {
			err = windows.CloseHandle(s.pending)
		}
		// An accept in progress closes its instance itself.
		s.pending = 0
		for f := range s.conns {
			f.Close()
		}
		s.mu.Unlock()
		windows.SetEvent(s.stop)
		s.wg.Wait()
	})
	return err
}
