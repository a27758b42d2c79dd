// SPDX-License-Identifier: MIT

//go:build unix

package plugins_test

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wgplex/wgplex/internal/testbuild"

	"github.com/wgplex/wgplex/plugins"
)

// The plugin binaries the tests load, built once per run by buildPlugins.
var (
	binDir   string
	buildErr error
	buildMu  sync.Mutex
	built    bool
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// pluginBin builds (once) and returns the path of a plugin binary: name is
// the package directory relative to plugins/.
func pluginBin(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if !built {
		built = true
		binDir, buildErr = os.MkdirTemp("", "wgplex-plugins-")
		if buildErr == nil {
			buildErr = goBuild(binDir, "./keyvault-file", "./examples/keyvault-memory", "./testdata/badvault", "./testdata/versionedvault")
		}
	}
	if buildErr != nil {
		t.Fatalf("building the test plugins: %v", buildErr)
	}
	return filepath.Join(binDir, filepath.Base(name))
}

func goBuild(dir string, pkgs ...string) error {
	return testbuild.Build(".", dir+"/", false, pkgs...)
}

// testKey is a private key, clamped, with its public half.
type testKey struct {
	priv []byte
	pub  [32]byte
}

func newTestKey(t testing.TB) testKey {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.Bytes()
	priv[0] &= 248
	priv[31] = priv[31]&127 | 64
	k, err = ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv: priv, pub: [32]byte(k.PublicKey().Bytes())}
}

// dh is the reference X25519 the vault's answers are checked against.
func (k testKey) dh(t testing.TB, peer [32]byte) [32]byte {
	t.Helper()
	priv, err := ecdh.X25519().NewPrivateKey(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		t.Fatal(err)
	}
	s, err := priv.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	return [32]byte(s)
}

// writeKeyFile stores k the way `wg genkey` would, with the given mode.
func writeKeyFile(t testing.TB, k testKey, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wg.key")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(k.priv)+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer collects a slog text log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b)
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug - 4})), b
}

// fastConfig is a Config with timings short enough for tests.
func fastConfig(t testing.TB, argv ...string) plugins.Config {
	log, _ := newLogger(t)
	return plugins.Config{
		Command:        argv,
		Logger:         log,
		StartTimeout:   10 * time.Second,
		CallTimeout:    2 * time.Second,
		HealthInterval: 200 * time.Millisecond,
		MinBackoff:     50 * time.Millisecond,
		MaxBackoff:     400 * time.Millisecond,
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processGone reports whether pid has ended: no such process, or a
// zombie (dead, waiting for whoever inherited it to reap it).
func processGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}
