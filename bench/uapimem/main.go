// SPDX-License-Identifier: MIT

// Command uapimem measures what one large UAPI set request costs a running
// daemon: it streams a request of new peers (a public key and one /32 each,
// about 100 bytes per peer, generated on the fly so the client holds
// nothing) to the daemon's socket and reports the daemon's resident memory
// before, at its peak (sampled every 20 ms, and VmHWM reset before the
// request) and after, with the errno of the reply and how long it took.
//
//	uapimem -sock /var/run/wireguard/wg0.sock -pid $(pidof wgplex) -mb 100
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	sock := flag.String("sock", "", "UAPI socket")
	pid := flag.Int("pid", 0, "daemon process id")
	mb := flag.Int("mb", 100, "request size in MB (10^6 bytes)")
	after := flag.Duration("after", 30*time.Second, "when to take the 'after' reading")
	ips := flag.Bool("allowed-ip", true, "give every peer an allowed IP (else a bare public_key line, 76 bytes, so that 100 MB passes the 2^20-peer limit)")
	flag.Parse()
	if err := run(*sock, *pid, *mb, *after, *ips); err != nil {
		fmt.Fprintln(os.Stderr, "uapimem:", err)
		os.Exit(1)
	}
}

// status returns VmRSS and VmHWM of pid in KiB.
func status(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

func run(sock string, pid, mb int, after time.Duration, ips bool) error {
	before, _ := status(pid)
	if before < 0 {
		return fmt.Errorf("no process %d", pid)
	}
	// Reset the peak so that VmHWM is this request's.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			if r, _ := status(pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	c, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	w := bufio.NewWriterSize(c, 1<<20)
	limit := mb * 1000 * 1000
	sent, peers := 0, 0
	w.WriteString("set=1\n")
	var line []byte
	var writeErr error
	for sent < limit {
		k := sha256.Sum256(strconv.AppendInt(nil, int64(peers), 10))
		line = append(line[:0], "public_key="...)
		line = hex.AppendEncode(line, k[:])
		line = append(line, '\n')
		if ips {
			line = fmt.Appendf(line, "allowed_ip=10.%d.%d.%d/32\n", peers>>16&255, peers>>8&255, peers&255)
		}
		if _, err := w.Write(line); err != nil {
			writeErr = err
			break
		}
		sent += len(line)
		peers++
	}
	if writeErr == nil {
		w.WriteString("\n")
		writeErr = w.Flush()
	}
	reply, _ := bufio.NewReader(c).ReadString('\n')
	took := time.Since(start)
	_, hwm := status(pid)
	close(stop)
	time.Sleep(after)
	end, _ := status(pid)
	fmt.Printf("request: %d bytes, %d new peers; reply %q after %s (write error: %v)\n",
		sent, peers, strings.TrimSpace(reply), took.Round(time.Millisecond), writeErr)
	fmt.Printf("daemon RSS: before %d MiB, peak %d MiB (VmHWM %d MiB), %s after the reply %d MiB\n",
		before>>10, peak.Load()>>10, hwm>>10, after, end>>10)
	return nil
}
