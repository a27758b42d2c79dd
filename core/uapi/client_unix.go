// SPDX-License-Identifier: MIT

//go:build !windows

package uapi

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

const socketSuffix = ".sock"

// SocketPath returns the socket of interface ifname in DefaultSocketDir,
// where userspace implementations (wgplex, wireguard-go) serve it.
func SocketPath(ifname string) string { return filepath.Join(DefaultSocketDir, ifname+socketSuffix) }

// Dial connects to the daemon of interface ifname.
func Dial(ifname string) (*Client, error) {
	if ifname == "" || strings.ContainsRune(ifname, '/') {
		return nil, &os.PathError{Op: "dial", Path: ifname, Err: syscall.EINVAL}
	}
	return DialPath(SocketPath(ifname))
}

func (c *Client) dial() error {
	st, err := os.Stat(c.path)
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSocket == 0 {
		return &os.PathError{Op: "dial", Path: c.path, Err: syscall.EBADF}
	}
	conn, err := net.Dial("unix", c.path)
	if err != nil {
		return err
	}
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 64<<10)
	c.w = bufio.NewWriterSize(conn, 64<<10)
	return nil
}

// List returns the interfaces that have a live socket in DefaultSocketDir, in
// directory order, as "wg show interfaces" lists userspace interfaces. A
// missing directory is no interfaces.
func List() ([]string, error) { return ListDir(DefaultSocketDir) }

// ListDir is List on another directory. Like wg(8), it removes a socket
// file whose daemon is gone (the connection is refused), so that a crashed
// daemon does not leave a phantom interface behind.
func ListDir(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		ifname, ok := strings.CutSuffix(n, socketSuffix)
		if !ok || ifname == "" {
			continue
		}
		path := filepath.Join(dir, n)
		st, err := os.Stat(path)
		if err != nil || st.Mode()&os.ModeSocket == 0 {
			continue
		}
		conn, err := net.Dial("unix", path)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				os.Remove(path)
				continue
			}
			// Another failure (permission, say) still means the
			// interface exists; wg lists it too.
		} else {
			conn.Close()
		}
		out = append(out, ifname)
	}
	return out, nil
}
