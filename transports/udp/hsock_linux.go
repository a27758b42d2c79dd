// SPDX-License-Identifier: MIT

//go:build linux

package udp

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The handshake socket. Each family's socket gets a companion bound to the
// same port, and a classic BPF program attached to the pair's SO_REUSEPORT
// group hands every datagram whose first byte is 4 (a WireGuard data
// message) to the first socket and everything else (initiations,
// responses, cookie replies, junk) to the second. The kernel thus keeps a
// flood of handshake messages away from the data socket: the goroutine
// that reads data never wakes for it, and the engine can read the
// handshake socket at its own pace under load (core.FloodReadPause)
// without delaying data. Sends all go through the first socket.
//
// The first socket is bound without SO_REUSEPORT and gets it only
// afterwards, so binding a port another socket holds still fails with
// EADDRINUSE, as it does without the companion; the companion then joins
// the first socket in a group of two, in that order, which is what the
// program's indices refer to.

// messageTypeData is the first byte of a WireGuard data message.
const messageTypeData = 4

// handshakeSteering is the reuseport program: socket 0 for data messages,
// socket 1 for the rest. The program sees the datagram from its UDP
// payload on; a load past the end (an empty datagram) ends it with 0.
var handshakeSteering = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 0},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: messageTypeData},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	{Code: unix.BPF_RET | unix.BPF_K, K: 1},
}

// addHandshakeSocket opens s's companion on s's port and steers handshake
// messages to it. On failure (a kernel without reuseport programs) s is
// left as it was, alone on its port, and the error says why.
func addHandshakeSocket(s *sock, mark uint32, opts Options) error {
	if err := setReusePort(s, true); err != nil {
		return err
	}
	hs, err := listen(s.is6, s.port, mark, opts, true)
	if err != nil {
		_ = setReusePort(s, false)
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(handshakeSteering)), Filter: &handshakeSteering[0]}
	var serr error
	if err := s.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &prog)
	}); err == nil {
		err = serr
	}
	if err != nil {
		hs.conn.Close()
		_ = setReusePort(s, false)
		return fmt.Errorf("udp: attach handshake steering: %w", err)
	}
	s.hs = hs
	return nil
}

// setReusePort sets or clears SO_REUSEPORT on s.
func setReusePort(s *sock, on bool) error {
	var serr error
	if err := s.rc.Control(func(fd uintptr) { serr = reusePort(int(fd), on) }); err != nil {
		return err
	}
	return serr
}

// reusePort sets or clears SO_REUSEPORT on the socket fd.
func reusePort(fd int, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, v); err != nil {
		return fmt.Errorf("udp: SO_REUSEPORT: %w", err)
	}
	return nil
}

// The program is handed to the kernel by address; keep its element layout
// what the kernel expects.
var _ = [1]struct{}{}[unsafe.Sizeof(unix.SockFilter{})-unix.SizeofSockFilter]
