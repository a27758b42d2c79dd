// SPDX-License-Identifier: MIT

package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// forwardCmd is a tunnel that does nothing but move packets: each packet
// read from a TUN device is sent as one UDP datagram to the peer, and each
// datagram received is written to the device, by two goroutines blocked in
// Go's network poller as a userspace WireGuard's readers are. No crypto, no
// protocol, no batching. bench/latency-floor.sh measures ping through it to
// show how much of a tunnel's latency is the thread wake-ups and system
// calls that any such design pays, whatever it does with the packet.
func forwardCmd(args []string) error {
	fs := flag.NewFlagSet("forward", flag.ContinueOnError)
	name := fs.String("tun", "", "TUN interface to create")
	listen := fs.String("listen", "", "local UDP address:port")
	peer := fs.String("peer", "", "the other forwarder's UDP address:port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || *listen == "" || *peer == "" {
		return errors.New("-tun, -listen and -peer are required")
	}
	raddr, err := net.ResolveUDPAddr("udp", *peer)
	if err != nil {
		return fmt.Errorf("-peer: %w", err)
	}
	laddr, err := net.ResolveUDPAddr("udp", *listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	dev, err := openTUN(*name)
	if err != nil {
		return err
	}
	defer dev.Close()

	x := newFwdSteps(os.Getenv("FWD_STEPS"))
	rc, err := dev.SyscallConn()
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() {
		buf := make([]byte, 65536)
		out := make([]byte, 65536)
		for {
			n, err := dev.Read(buf)
			if err != nil {
				errc <- fmt.Errorf("read %s: %w", *name, err)
				return
			}
			// A send error (no route yet, a full buffer) drops the
			// packet, as a tunnel would.
			_, _ = conn.WriteToUDP(x.seal(out, buf[:n]), raddr)
			x.sent()
			if x.readMore {
				for {
					var k int
					var rerr error
					_ = rc.Read(func(fd uintptr) bool {
						k, rerr = unix.Read(int(fd), buf)
						return true
					})
					if rerr != nil || k <= 0 {
						break
					}
					_, _ = conn.WriteToUDP(x.seal(out, buf[:k]), raddr)
				}
			}
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				errc <- fmt.Errorf("read socket: %w", err)
				return
			}
			p, ok := x.open(buf[:n])
			if !ok {
				continue
			}
			_, _ = dev.Write(p)
			x.received()
		}
	}()
	stop, release := stopSignals()
	defer release()
	select {
	case err := <-errc:
		return err
	case <-stop:
		return nil
	}
}

// openTUN creates the layer-3 TUN device name (no packet information
// header) and returns it non-blocking, so that reads wait in Go's network
// poller.
func openTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("interface name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}
