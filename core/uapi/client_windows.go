// SPDX-License-Identifier: MIT

//go:build windows

package uapi

import (
	"bufio"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// SocketPath returns the named pipe of interface ifname.
func SocketPath(ifname string) string { return pipePath(DefaultSocketDir, ifname) }

// Dial connects to the daemon of interface ifname.
func Dial(ifname string) (*Client, error) {
	if !validPipeIfname(ifname) {
		return nil, &os.PathError{Op: "dial", Path: ifname, Err: syscall.EINVAL}
	}
	return DialPath(SocketPath(ifname))
}

// pipeBusyRetries bounds the wait for a free pipe instance. The server
// puts up a new instance as soon as one is taken, so a busy pipe clears
// within moments.
const pipeBusyRetries = 50

// dial opens the pipe for overlapped I/O, allowing the server to identify
// the client but not to act as it.
func (c *Client) dial() error {
	name, err := windows.UTF16PtrFromString(c.path)
	if err != nil {
		return &os.PathError{Op: "dial", Path: c.path, Err: syscall.EINVAL}
	}
	var h windows.Handle
	for try := 0; ; try++ {
		h, err = windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING,
			windows.FILE_FLAG_OVERLAPPED|windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
		if errors.Is(err, windows.ERROR_PIPE_BUSY) && try < pipeBusyRetries {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		break
	}
	if err != nil {
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
			err = syscall.ENOENT
		}
		return &os.PathError{Op: "dial", Path: c.path, Err: err}
	}
	conn := &namedPipeConn{File: os.NewFile(uintptr(h), c.path)}
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 64<<10)
	c.w = bufio.NewWriterSize(conn, 64<<10)
	return nil
}

// namedPipeConn is a connected pipe as a net.Conn.
type namedPipeConn struct {
	*os.File
}

// pipeAddr is a pipe's name as a net.Addr.
type pipeAddr string

// Network returns "pipe".
func (a pipeAddr) Network() string { return "pipe" }

// String returns the pipe's name.
func (a pipeAddr) String() string { return string(a) }

// LocalAddr returns the pipe's name.
func (p *namedPipeConn) LocalAddr() net.Addr { return pipeAddr(p.Name()) }

// RemoteAddr returns the pipe's name.
func (p *namedPipeConn) RemoteAddr() net.Addr { return pipeAddr(p.Name()) }

// List returns the interfaces whose pipe exists in PipeDir, as wg.exe
// lists userspace interfaces.
func List() ([]string, error) {
	pattern, _ := windows.UTF16PtrFromString(`\\.\pipe\*`)
	var fd windows.Win32finddata
	h, err := windows.FindFirstFile(pattern, &fd)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer windows.FindClose(h)
	var out []string
	for {
		if ifname, ok := ifnameFromPipeListing(windows.UTF16ToString(fd.FileName[:])); ok {
			out = append(out, ifname)
		}
		if err := windows.FindNextFile(h, &fd); err != nil {
			if errors.Is(err, windows.ERROR_NO_MORE_FILES) {
				return out, nil
			}
			return out, err
		}
	}
}
