// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A rootless "wgplex proxy" against a TUN daemon: the proxy runs as the
// user nobody in namespace A, the daemon (wgplex, then wireguard-go) as
// root with its TUN device in namespace B. Through the proxy's SOCKS5 and
// HTTP proxies the test fetches from a web server on B's tunnel addresses
// (IPv4 and IPv6), and from B it reaches a web server on A's host side
// through the proxy's TCPServerTunnel.

// inNetns runs fn on a thread that has entered ns. A socket fn opens stays
// in ns after the thread returns, so a listener or a connection made here
// can be used from any goroutine.
func inNetns(ns *Netns, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/var/run/netns", ns.Name))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked and dies with this goroutine rather than
		// run other goroutines in the wrong namespace.
		return fmt.Errorf("restore network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// serveIn serves HTTP in ns on addr, answering with body, until the test
// ends.
func serveIn(t *testing.T, ns *Netns, network, addr, body string) net.Addr {
	t.Helper()
	var ln net.Listener
	if err := inNetns(ns, func() (err error) { ln, err = net.Listen(network, addr); return err }); err != nil {
		t.Fatalf("listen in %s: %v", ns.Name, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr()
}

// clientIn is an HTTP client whose connections are made in ns, through
// proxy when it is not nil.
func clientIn(ns *Netns, proxy *url.URL) *http.Client {
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = inNetns(ns, func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(proxy)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// startRootlessProxy runs "wgplex proxy" as nobody in ns and returns the
// addresses it reports per server kind.
func startRootlessProxy(t *testing.T, ns *Netns, bin, conf string) map[string][]string {
	t.Helper()
	if _, err := exec.LookPath("setpriv"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("setpriv (util-linux) missing")
		}
		t.Skip("setpriv (util-linux) missing")
	}
	dir, err := os.MkdirTemp("", "wgpx-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	const nobody = 65534
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	// The suite's build directory is root's alone; nobody runs a copy.
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "wgplex")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "p"+uniqueID()+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(path, nobody, nobody)
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"env", "WGPLEX_RUNTIME_DIR="+dir, "LOG_LEVEL=verbose", bin, "proxy", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(out, stderr)
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("wgplex proxy ignored SIGTERM for 10 s")
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("wgplex proxy output:\n%s", out)
		}
	})
	want := strings.Count(conf, "[Socks5]") + strings.Count(conf, "[http]") + strings.Count(conf, "Tunnel]")
	servers := map[string][]string{}
	deadline := time.After(15 * time.Second)
	for got := 0; got < want; {
		select {
		case l := <-lines:
			rest, ok := strings.CutPrefix(l, "wgplex proxy: ")
			if kind, addr, ok2 := strings.Cut(rest, " on "); ok && ok2 {
				servers[kind] = append(servers[kind], addr)
				got++
			}
		case <-exited:
			t.Fatalf("wgplex proxy exited during start-up:\n%s", out)
		case <-deadline:
			t.Fatalf("wgplex proxy did not report its servers:\n%s", out)
		}
	}
	return servers
}

func TestProxyInterop(t *testing.T) {
	wgplex := implUnderTest(t)
	for _, impl := range []Impl{wgplex, implReference(t)} {
		t.Run(impl.Name, func(t *testing.T) { proxyInterop(t, wgplex.Bin, impl) })
	}
}

func proxyInterop(t *testing.T, proxyBin string, impl Impl) {
	nsA, nsB := NewNetns(t), NewNetns(t)
	Veth(t, nsA, "ul0", nsB, "ul0")
	nsA.AddAddr("ul0", "10.213.1.1/24")
	nsB.AddAddr("ul0", "10.213.1.2/24")
	kd, kp := GenKey(t), GenKey(t)
	d := StartDaemon(t, nsB, impl)
	d.SetConf(fmt.Sprintf("[Interface]\nPrivateKey = %s\nListenPort = 51002\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.214.1.1/32, fd00:214::1/128\n",
		kd.Private, kp.Public))
	d.Up("10.214.1.2/24", "fd00:214::2/64")
	serveIn(t, nsB, "tcp", ":8080", "hello from "+impl.Name)
	local := serveIn(t, nsA, "tcp4", "127.0.0.1:0", "hello from the proxy's host")

	servers := startRootlessProxy(t, nsA, proxyBin, fmt.Sprintf(`[Interface]
Address = 10.214.1.1/24, fd00:214::1/64
PrivateKey = %s

[Peer]
PublicKey = %s
AllowedIPs = 10.214.1.2/32, fd00:214::2/128
Endpoint = 10.213.1.2:51002
PersistentKeepalive = 1

[Socks5]
BindAddress = 127.0.0.1:0

[http]
BindAddress = 127.0.0.1:0

[TCPServerTunnel]
ListenPort = 9000
Target = %s
`, kp.Private, kd.Public, local))

	get := func(c *http.Client, u, want string) {
		t.Helper()
		Eventually(t, 15*time.Second, "GET "+u, func() (bool, string) {
			resp, err := c.Get(u)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && string(b) == want, fmt.Sprintf("%d %q", resp.StatusCode, b)
		})
	}
	socks := clientIn(nsA, &url.URL{Scheme: "socks5", Host: servers["socks5"][0]})
	httpProxy := clientIn(nsA, &url.URL{Scheme: "http", Host: servers["http"][0]})
	get(socks, "http://10.214.1.2:8080/", "hello from "+impl.Name)
	get(socks, "http://[fd00:214::2]:8080/", "hello from "+impl.Name)
	get(httpProxy, "http://10.214.1.2:8080/", "hello from "+impl.Name)
	// The other way: from the daemon's namespace, through its TUN device,
	// to the proxy's TCPServerTunnel and on to the proxy's host side.
	get(clientIn(nsB, nil), "http://10.214.1.1:9000/", "hello from the proxy's host")
	get(clientIn(nsB, nil), "http://[fd00:214::1]:9000/", "hello from the proxy's host")
	if hs := d.LatestHandshake(kp.Public); hs == 0 {
		t.Errorf("%s shows no handshake with the proxy", impl.Name)
	}
}
