// SPDX-License-Identifier: MIT

//go:build !windows

package uapi

import (
	"bufio"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// shortTempDir returns a temporary directory with a short path: Unix socket
// paths are limited to about 100 bytes and t.TempDir can exceed that.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "uapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startServer(t *testing.T, dir string, h Handler) (*Server, chan error) {
	t.Helper()
	s, err := Listen(dir, "wgt0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(h, nil) }()
	t.Cleanup(func() { s.Close() })
	return s, done
}

// roundTrip sends one request on a fresh connection and reads the reply up
// to its errno line.
func roundTrip(t *testing.T, path, req string) string {
	t.Helper()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v (so far %q)", err, b.String())
		}
		b.WriteString(line)
		if strings.HasPrefix(line, "errno=") {
			if _, err := r.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
	}
}

func TestServerServesAndCleansUp(t *testing.T) {
	dir := filepath.Join(shortTempDir(t), "run")
	h := &fakeHandler{snap: testSnapshot()}
	s, done := startServer(t, dir, h)

	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o755 {
		t.Errorf("created dir mode %v, want 0755", di.Mode().Perm())
	}
	path := filepath.Join(dir, "wgt0.sock")
	if s.Path() != path {
		t.Fatalf("path %q", s.Path())
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want socket 0600", fi.Mode())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftovers in socket dir: %v", entries)
	}

	if got := roundTrip(t, path, "get=1\n\n"); got != goldenGet+"errno=0\n" {
		t.Fatalf("get: %q", got)
	}
	if got := roundTrip(t, path, "set=1\nlisten_port=7\n\n"); got != "errno=0\n" {
		t.Fatalf("set: %q", got)
	}
	if h.calls() != 1 {
		t.Fatal("set not applied")
	}

	// An idle client must not keep Close from returning.
	idle, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	time.Sleep(10 * time.Millisecond)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket not removed: %v", err)
	}
	select {
	case <-s.Removed():
		t.Fatal("Removed fired on our own Close")
	default:
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestServerKeepsExistingDirMode(t *testing.T) {
	dir := shortTempDir(t)
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir, &fakeHandler{})
	di, _ := os.Stat(dir)
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("existing dir mode changed to %v", di.Mode().Perm())
	}
}

func TestServerRemovedFires(t *testing.T) {
	dir := shortTempDir(t)
	s, _ := startServer(t, dir, &fakeHandler{})
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Removed():
	case <-time.After(5 * removalPoll):
		t.Fatal("Removed did not fire")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServerReplacedSocketIsLeftAlone(t *testing.T) {
	dir := shortTempDir(t)
	s, _ := startServer(t, dir, &fakeHandler{})
	// Someone else's file now sits at the path: Removed fires and Close
	// must not delete it.
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path(), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Removed():
	case <-time.After(5 * removalPoll):
		t.Fatal("Removed did not fire")
	}
	s.Close()
	if _, err := os.Stat(s.Path()); err != nil {
		t.Fatalf("foreign file removed: %v", err)
	}
}

func TestServerReplacesStaleSocket(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "wgt0.sock")
	// A socket file whose listener is gone, as a killed daemon leaves it.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	s, _ := startServer(t, dir, &fakeHandler{snap: testSnapshot()})
	if got := roundTrip(t, s.Path(), "get=1\n\n"); got != goldenGet+"errno=0\n" {
		t.Fatalf("get: %q", got)
	}
}

func TestServerRefusesLiveSocket(t *testing.T) {
	dir := shortTempDir(t)
	first, _ := startServer(t, dir, &fakeHandler{})
	if _, err := Listen(dir, "wgt0"); err == nil {
		t.Fatal("second Listen succeeded over a live socket")
	}
	// The first server must be untouched.
	if got := roundTrip(t, first.Path(), "set=1\n\n"); got != "errno=0\n" {
		t.Fatalf("first server broken: %q", got)
	}
}

func TestServerRefusesNonSocket(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "wgt0.sock")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(dir, "wgt0"); err == nil {
		t.Fatal("Listen replaced a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatal("file changed")
	}
}

func TestListenRejectsBadNames(t *testing.T) {
	dir := shortTempDir(t)
	for _, name := range []string{"", ".", "..", "a/b", "a\x00b"} {
		if _, err := Listen(dir, name); err == nil {
			t.Errorf("accepted %q", name)
		}
	}
}
