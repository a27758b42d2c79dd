// SPDX-License-Identifier: MIT

//go:build linux

package tun

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wgplex/wgplex/core"
)

// These tests create real TUN interfaces, each inside a network namespace
// of its own (named wgplextest-<random>), so they neither see nor disturb
// the host's interfaces. They need root and /dev/net/tun; without them they
// skip, unless CI=true, where a skipped test would hide a broken runner.

func requireTUN(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root"
	} else if _, err := os.Stat("/dev/net/tun"); err != nil {
		why = "no /dev/net/tun"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "no ip(8) command"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("TUN tests need root, /dev/net/tun and ip(8): %s (CI=true, so not skipping)", why)
	}
	t.Skipf("TUN tests need root, /dev/net/tun and ip(8): %s", why)
}

func randSuffix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newNetns creates a network namespace that is deleted when the test ends,
// with its loopback up.
func newNetns(t testing.TB) string {
	t.Helper()
	ns := "wgplextest-" + randSuffix(t)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	ipCmd(t, ns, "link", "set", "lo", "up")
	return ns
}

// ipCmd runs ip(8) inside namespace ns.
func ipCmd(t testing.TB, ns string, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
}

// listenUDPIn opens a UDP socket on the device's address inside ns; the
// caller closes it.
func listenUDPIn(t testing.TB, ns string) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	inNetns(t, ns, func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: tunAddr.AsSlice()})
		return err
	})
	return conn
}

// segmentOOB is the control message that has the kernel cut a datagram
// into segSize-byte datagrams (UDP_SEGMENT, UDP GSO).
func segmentOOB(segSize uint16) []byte {
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], segSize)
	return oob
}

// inNetns runs fn on an OS thread that has joined namespace ns. The thread
// is never unlocked, so the runtime throws it away afterwards instead of
// handing it, still in the namespace, to another goroutine. Sockets and
// devices created by fn stay in ns.
func inNetns(t testing.TB, ns string, fn func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// createIn creates a device in ns, closed when the test ends.
func createIn(t testing.TB, ns, name string, mtu int) *Device {
	t.Helper()
	var d *Device
	inNetns(t, ns, func() (err error) {
		d, err = Create(name, mtu)
		return err
	})
	t.Cleanup(func() { d.Close() })
	return d
}

// packet is one packet read from a device, or the error that ended reading.
type packet struct {
	data []byte
	err  error
}

// reader reads from d with headroom until an error, on its own goroutine.
// It also checks that Read leaves the headroom alone.
func reader(d *Device, offset int) <-chan packet {
	ch := make(chan packet, 64)
	go func() {
		defer close(ch)
		buf := make([]byte, offset+65536)
		for {
			for i := range offset {
				buf[i] = 0xAA
			}
			sizes := []int{0}
			n, err := d.Read([][]byte{buf}, sizes, offset)
			if err != nil {
				ch <- packet{err: err}
				return
			}
			if n != 1 {
				ch <- packet{err: errors.New("Read returned no packet and no error")}
				return
			}
			if !bytes.Equal(buf[:offset], bytes.Repeat([]byte{0xAA}, offset)) {
				ch <- packet{err: errors.New("Read wrote into the headroom")}
				return
			}
			ch <- packet{data: bytes.Clone(buf[offset : offset+sizes[0]])}
		}
	}()
	return ch
}

// waitPacket returns the first packet from ch that match accepts, skipping
// others (IPv6 router solicitations and the like).
func waitPacket(t *testing.T, ch <-chan packet, what string, match func([]byte) bool) []byte {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				t.Fatalf("waiting for %s: reader stopped", what)
			}
			if p.err != nil {
				t.Fatalf("waiting for %s: %v", what, p.err)
			}
			if match(p.data) {
				return p.data
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitEvent(t *testing.T, d *Device, want core.DeviceEvent) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-d.Events():
			if !ok {
				t.Fatalf("Events closed while waiting for %v", want)
			}
			if ev == want {
				return
			}
			t.Logf("skipping event %v while waiting for %v", ev, want)
		case <-timeout:
			t.Fatalf("timed out waiting for event %v", want)
		}
	}
}

// ipv4Header builds a 20-byte IPv4 header with its checksum.
func ipv4Header(proto byte, src, dst netip.Addr, payloadLen int) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+payloadLen))
	h[8] = 64
	h[9] = proto
	s, d := src.As4(), dst.As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return h
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

var (
	tunAddr  = netip.MustParseAddr("10.99.0.1") // the kernel's side
	peerAddr = netip.MustParseAddr("10.99.0.2") // behind the device
)

// TestReadWrite sends a datagram from a socket into the device, writes an
// ICMP echo request and a UDP datagram into the device and sees the kernel
// answer and deliver them.
func TestReadWrite(t *testing.T) {
	requireTUN(t)
	ns := newNetns(t)
	// %d exercises the kernel's name choice; the prefix keeps the name
	// unique to this run.
	d := createIn(t, ns, "wt"+randSuffix(t)[:6]+"%d", 1420)
	name, err := d.Name()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(name, "%") || len(name) > unix.IFNAMSIZ-1 {
		t.Fatalf("Name() = %q", name)
	}
	ipCmd(t, ns, "addr", "add", tunAddr.String()+"/24", "dev", name)
	ipCmd(t, ns, "link", "set", name, "up")
	const offset = 32
	pkts := reader(d, offset)

	// Kernel to device: a datagram to a peer routed into the device.
	conn := listenUDPIn(t, ns)
	defer conn.Close()
	payload := []byte("into the tunnel")
	if _, err := conn.WriteToUDPAddrPort(payload, netip.AddrPortFrom(peerAddr, 9999)); err != nil {
		t.Fatal(err)
	}
	waitPacket(t, pkts, "UDP datagram to the peer", func(p []byte) bool {
		return len(p) >= 28 && p[0]>>4 == 4 && p[9] == unix.IPPROTO_UDP &&
			netip.AddrFrom4([4]byte(p[16:20])) == peerAddr &&
			binary.BigEndian.Uint16(p[22:24]) == 9999 && bytes.Equal(p[28:], payload)
	})

	// Device to kernel: an ICMP echo request the kernel answers.
	icmp := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'w', 'g', 'p', 'l', 'e', 'x'}
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	ping := append(make([]byte, offset), ipv4Header(unix.IPPROTO_ICMP, peerAddr, tunAddr, len(icmp))...)
	ping = append(ping, icmp...)
	if n, err := d.Write([][]byte{ping}, offset); err != nil || n != 1 {
		t.Fatalf("Write(echo request) = %d, %v", n, err)
	}
	waitPacket(t, pkts, "ICMP echo reply", func(p []byte) bool {
		return len(p) >= 28 && p[9] == unix.IPPROTO_ICMP && p[20] == 0 &&
			netip.AddrFrom4([4]byte(p[12:16])) == tunAddr &&
			binary.BigEndian.Uint16(p[24:26]) == 0x1234 && bytes.Equal(p[28:], icmp[8:])
	})

	// Device to kernel: a UDP datagram for the local socket (checksum 0 is
	// allowed in IPv4).
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("out of the tunnel")
	udp := make([]byte, 8, 8+len(msg))
	binary.BigEndian.PutUint16(udp[0:], 5555)
	binary.BigEndian.PutUint16(udp[2:], local.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(msg)))
	udp = append(udp, msg...)
	dgram := append(make([]byte, offset), ipv4Header(unix.IPPROTO_UDP, peerAddr, tunAddr, len(udp))...)
	dgram = append(dgram, udp...)
	if n, err := d.Write([][]byte{dgram, dgram}, offset); err != nil || n != 2 {
		t.Fatalf("Write(2 datagrams) = %d, %v", n, err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 128)
	n, from, err := conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("local socket: %v", err)
	}
	if from != netip.AddrPortFrom(peerAddr, 5555) || !bytes.Equal(buf[:n], msg) {
		t.Fatalf("local socket got %q from %v", buf[:n], from)
	}

	// Close ends a blocked Read.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, pkts)
	if err := d.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Events sent before Close may still be buffered; then it is closed.
	for range d.Events() {
	}
	if _, err := d.MTU(); err == nil {
		t.Fatal("MTU after Close succeeded")
	}
}

// waitClosed waits for the reader to stop with an error.
func waitClosed(t *testing.T, pkts <-chan packet) error {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case p, ok := <-pkts:
			if !ok {
				t.Fatal("reader stopped without an error")
			}
			if p.err != nil {
				return p.err
			}
		case <-timeout:
			t.Fatal("Read still blocked")
		}
	}
}

// TestMTUAndEvents covers MTU get/set, up/down and MTU events, and deletion
// of the interface from outside.
func TestMTUAndEvents(t *testing.T) {
	requireTUN(t)
	ns := newNetns(t)
	name := "wt" + randSuffix(t)
	d := createIn(t, ns, name, 1400)
	if got, _ := d.Name(); got != name {
		t.Fatalf("Name() = %q, want %q", got, name)
	}
	if mtu, err := d.MTU(); err != nil || mtu != 1400 {
		t.Fatalf("MTU() = %d, %v; want 1400", mtu, err)
	}
	if want := map[bool]int{true: readBatch, false: 1}[d.Offloads()[OffloadVnetHdr]]; d.BatchSize() != want {
		t.Fatalf("BatchSize() = %d, want %d (offloads %v)", d.BatchSize(), want, d.Offloads())
	}
	select {
	case ev := <-d.Events():
		t.Fatalf("event %v from a device created down", ev)
	case <-time.After(100 * time.Millisecond):
	}

	ipCmd(t, ns, "link", "set", name, "up")
	waitEvent(t, d, core.EventUp)

	// MTU() is asked from the test's own namespace: the device answers
	// through its control socket in the device's namespace.
	if err := d.SetMTU(1300); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, d, core.EventMTUUpdate)
	if mtu, err := d.MTU(); err != nil || mtu != 1300 {
		t.Fatalf("MTU() after SetMTU(1300) = %d, %v", mtu, err)
	}
	ipCmd(t, ns, "link", "set", name, "mtu", "1280")
	waitEvent(t, d, core.EventMTUUpdate)
	if mtu, _ := d.MTU(); mtu != 1280 {
		t.Fatalf("MTU() after ip link set mtu 1280 = %d", mtu)
	}
	if err := d.SetMTU(0); err == nil {
		t.Fatal("SetMTU(0) succeeded")
	}

	ipCmd(t, ns, "link", "set", name, "down")
	waitEvent(t, d, core.EventDown)

	pkts := reader(d, 0)
	time.Sleep(50 * time.Millisecond) // let the reader block
	ipCmd(t, ns, "link", "del", name)
	timeout := time.After(5 * time.Second)
	for closed := false; !closed; {
		select {
		case ev, ok := <-d.Events():
			if ok {
				t.Logf("event %v before deletion", ev)
			}
			closed = !ok
		case <-timeout:
			t.Fatal("Events not closed after the link was deleted")
		}
	}
	if err := waitClosed(t, pkts); !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("blocked Read after deletion: %v, want ErrDeviceGone", err)
	}
	if _, err := d.Read([][]byte{make([]byte, 100)}, []int{0}, 0); !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("Read after deletion: %v, want ErrDeviceGone", err)
	}
	if n, err := d.Write([][]byte{make([]byte, 40)}, 0); n != 0 || !errors.Is(err, ErrDeviceGone) {
		t.Fatalf("Write after deletion: %d, %v; want ErrDeviceGone", n, err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close after deletion: %v", err)
	}
}

// TestAttachUp attaches to an existing persistent interface that is already
// up, and expects the initial EventUp.
func TestAttachUp(t *testing.T) {
	requireTUN(t)
	ns := newNetns(t)
	name := "wt" + randSuffix(t)
	ipCmd(t, ns, "tuntap", "add", "mode", "tun", "name", name)
	t.Cleanup(func() { exec.Command("ip", "-n", ns, "link", "del", name).Run() })
	ipCmd(t, ns, "link", "set", name, "up")
	d := createIn(t, ns, name, 0)
	waitEvent(t, d, core.EventUp)
	if mtu, err := d.MTU(); err != nil || mtu != 1500 {
		t.Fatalf("MTU() = %d, %v; want the default 1500", mtu, err)
	}
}

func TestCreateErrors(t *testing.T) {
	requireTUN(t)
	ns := newNetns(t)
	inNetns(t, ns, func() error {
		if d, err := Create(strings.Repeat("x", unix.IFNAMSIZ), 0); err == nil {
			d.Close()
			return errors.New("Create accepted a name longer than IFNAMSIZ")
		}
		if d, err := Create("wt"+randSuffix(t), 10); err == nil {
			d.Close()
			return errors.New("Create accepted MTU 10")
		}
		return nil
	})
}
