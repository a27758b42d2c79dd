// SPDX-License-Identifier: MIT

//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/internal/testbuild"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/wgplex/wgplex/core/config"
	"github.com/wgplex/wgplex/core/noise"
)

// nobody is the user the proxies run as when the test runs as root.
const nobody = 65534

var (
	buildOnce   sync.Once
	binPath     string
	buildErr    error
	buildDir    string
	buildTime   time.Duration
	buildLogged sync.Once
)

// wgplexBinary builds the binaries once for the package's tests and
// returns wgplex's path; keyvault-file lies next to it.
func wgplexBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the end-to-end proxy tests run on Linux")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "wgplex-proxy-test-")
		if buildErr != nil {
			return
		}
		os.Chmod(buildDir, 0o755)
		binPath = filepath.Join(buildDir, "wgplex")
		// The key vault plugin too, for the test that keeps the key in it.
		start := time.Now()
		buildErr = testbuild.Build(".", buildDir+string(filepath.Separator), false,
			"github.com/wgplex/wgplex/cmd/wgplex", "github.com/wgplex/wgplex/plugins/keyvault-file")
		buildTime = time.Since(start)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	buildLogged.Do(func() { t.Logf("wgplex built in %v", buildTime.Round(time.Millisecond)) })
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// key is a fresh key pair in configuration-file form.
type key struct{ priv, pub string }

func newKey(t *testing.T) key {
	k, err := noise.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key{config.FormatKey(k), config.FormatKey(k.PublicKey())}
}

// dir is a directory the proxies (maybe as nobody) can read and write.
func sharedDir(t *testing.T) string {
	d := t.TempDir()
	if os.Geteuid() == 0 {
		for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
			os.Chmod(p, 0o755)
			if strings.HasPrefix(filepath.Base(p), "Test") {
				break
			}
		}
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// proc is one running "wgplex proxy".
type proc struct {
	name    string
	cmd     *exec.Cmd
	runDir  string
	port    uint16            // WireGuard UDP port
	servers map[string]string // kind -> address, first of each kind
	all     map[string][]string
	stderr  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// userAttr makes a child run as nobody when the test is root.
func userAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if os.Geteuid() == 0 {
		a.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
	}
	return a
}

// startProxy writes conf as NAME.conf and runs "wgplex proxy" on it until
// the test ends, waiting for the lines that say where it listens.
func startProxy(t *testing.T, name, conf, logLevel string, extra ...string) *proc {
	t.Helper()
	bin := wgplexBinary(t)
	dir := sharedDir(t)
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		os.Chown(path, nobody, nobody)
	}
	p := &proc{name: name, runDir: dir, servers: map[string]string{}, all: map[string][]string{}, stderr: &syncBuffer{}}
	args := append([]string{"proxy"}, extra...)
	p.cmd = exec.Command(bin, append(args, path)...)
	p.cmd.Env = append(os.Environ(), "WGPLEX_RUNTIME_DIR="+dir, "LOG_LEVEL="+logLevel)
	p.cmd.SysProcAttr = userAttr()
	pr, pw := io.Pipe()
	p.cmd.Stderr = io.MultiWriter(pw, p.stderr)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if !p.cmd.ProcessState.Success() {
				t.Errorf("%s exited with %v after SIGTERM", name, p.cmd.ProcessState)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s still running 10 s after SIGTERM", name)
			p.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	// The last server line is followed by nothing until shutdown, so the
	// count of sections says when the start-up report is complete.
	want := 1 + strings.Count(strings.ToLower(conf), "[socks5]") + strings.Count(strings.ToLower(conf), "[http]") +
		strings.Count(strings.ToLower(conf), "tunnel]")
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, pr)
	}()
	deadline := time.After(20 * time.Second)
	for got := 0; got < want; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s exited during start-up:\n%s", name, p.stderr.String())
			}
			rest, ok := strings.CutPrefix(l, "wgplex proxy: ")
			if !ok {
				continue
			}
			if s, ok := strings.CutPrefix(rest, "interface "); ok {
				fmt.Sscanf(s[strings.Index(s, "UDP port ")+len("UDP port "):], "%d", &p.port)
				got++
				continue
			}
			kind, addr, ok := strings.Cut(rest, " on ")
			if ok {
				if _, seen := p.servers[kind]; !seen {
					p.servers[kind] = addr
				}
				p.all[kind] = append(p.all[kind], addr)
				got++
			}
		case <-deadline:
			t.Fatalf("%s did not report its listeners:\n%s", name, p.stderr.String())
		}
	}
	// Keep draining, so that the child never blocks writing to stderr.
	go func() {
		for range lines {
		}
	}()
	return p
}

// wgplex runs a command of the binary as the proxies' user, with p's
// runtime directory.
func (p *proc) wgplex(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(wgplexBinary(t), args...)
	cmd.Env = append(os.Environ(), "WGPLEX_RUNTIME_DIR="+p.runDir, "WG_COLOR_MODE=never")
	cmd.SysProcAttr = userAttr()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dnsServer answers A queries for names in table on a loopback UDP port;
// every other name is NXDOMAIN, every other type an empty answer.
func dnsServer(t *testing.T, table map[string]netip.Addr) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			a, known := table[strings.TrimSuffix(q.Name.String(), ".")]
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
			if !known {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.StartQuestions()
			b.Question(q)
			if known && q.Type == dnsmessage.TypeA {
				b.StartAnswers()
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}, dnsmessage.AResource{A: a.As4()})
			}
			if out, err := b.Finish(); err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// udpEcho answers every datagram with "echo:" and its content.
func udpEcho(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return pc.LocalAddr().String()
}

// ctxT is a context that ends with the test's time budget for one step.
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
