// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgplex/wgplex/core"
	"github.com/wgplex/wgplex/plugins"
)

// helperEnv makes the test binary act as a stand-in daemon: it starts the
// key vault named in the environment, uses it, reports the plugin's pid and
// waits to be killed. A separate process is what the orphan and memory
// tests need: one to kill -9, one whose memory never saw the key.
const helperEnv = "WGPLEX_PLUGINS_TEST_DAEMON"

func helperMain() int {
	argv, err := plugins.SplitCommandLine(os.Getenv(helperEnv))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	kv, err := plugins.StartKeyVault(plugins.Config{Command: argv})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	var peer core.PublicKey
	for i := range 50 {
		peer[0], peer[1] = byte(i), 9
		if _, err := kv.DH(peer); err != nil {
			fmt.Println("error", err)
			return 1
		}
	}
	fmt.Println("pid", kv.Plugin().Pid())
	// Stay until killed or until stdin closes.
	io.Copy(io.Discard, os.Stdin)
	kv.Close()
	return 0
}

// startHelper runs the stand-in daemon with the file vault on keyPath and
// returns it with the plugin's pid.
func startHelper(t *testing.T, keyPath string) (*exec.Cmd, int) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), helperEnv+"="+pluginBin(t, "keyvault-file")+" -key "+keyPath)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "pid" {
		t.Fatalf("helper: %s", line)
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return cmd, pid
}

// TestNoOrphanWhenDaemonIsKilled kills the stand-in daemon with SIGKILL,
// so that no cleanup code of its own runs, and requires the plugin to go
// with it.
func TestNoOrphanWhenDaemonIsKilled(t *testing.T) {
	cmd, pid := startHelper(t, writeKeyFile(t, newTestKey(t), 0o600))
	if processGone(pid) {
		t.Fatalf("plugin %d not running", pid)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("plugin process group %d (%v), want its own (%d)", pgid, err, pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	eventually(t, 5*time.Second, "plugin gone with its daemon", func() bool { return processGone(pid) })
}

// TestDaemonMemoryNeverHoldsTheKey reads every readable mapping of the
// stand-in daemon after it has run handshake-style DH calls through the
// file vault, and searches it for the private key, raw and in base64.
func TestDaemonMemoryNeverHoldsTheKey(t *testing.T) {
	key := newTestKey(t)
	cmd, pluginPid := startHelper(t, writeKeyFile(t, key, 0o600))
	b64 := []byte(base64.StdEncoding.EncodeToString(key.priv))

	// The same scan of the plugin must find it, or the scan proves nothing.
	if n, err := scanMemory(pluginPid, key.priv, b64); err != nil {
		t.Skipf("cannot read process memory: %v", err)
	} else if n == 0 {
		t.Fatal("scan did not find the key in the plugin either; the scan is broken")
	}
	n, err := scanMemory(cmd.Process.Pid, key.priv, b64)
	if err != nil {
		t.Skipf("cannot read process memory: %v", err)
	}
	if n != 0 {
		t.Fatalf("found the private key %d times in the daemon's memory", n)
	}
}

// scanMemory counts occurrences of any needle in the readable mappings of
// process pid, read through /proc/PID/mem.
func scanMemory(pid int, needles ...[]byte) (int, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return 0, err
	}
	defer mem.Close()
	found, readAny := 0, false
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[1][0] != 'r' {
			continue
		}
		if len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start || end-start > 1<<32 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		if n > 0 {
			readAny = true
		}
		for _, nd := range needles {
			found += bytes.Count(buf[:n], nd)
		}
	}
	if !readAny {
		return 0, fmt.Errorf("no readable mapping in /proc/%d/mem", pid)
	}
	return found, nil
}
