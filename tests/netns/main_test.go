// SPDX-License-Identifier: MIT

//go:build linux

package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wgplex/wgplex/internal/testbuild"
)

// Impl is one WireGuard implementation the tests can start: a binary that
// behaves like wireguard-go on the command line and on the UAPI socket.
type Impl struct {
	Name string // "wgplex" or "wireguard-go", for logs and failure messages
	Bin  string // absolute path of the binary
}

// Resolved once by TestMain, read by every test. An error is kept rather than
// acted on in TestMain because only a test can skip or fail with a message
// that go test attributes to it.
var (
	underTest    Impl
	underTestErr error
	reference    Impl
	referenceErr error
	// buildDir holds the wgplex binary TestMain built; removed after the run.
	buildDir string
)

func TestMain(m *testing.M) {
	reference, referenceErr = findWireGuardGo()
	underTest, underTestErr = resolveUnderTest()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// resolveUnderTest picks the binary whose behaviour the suite asserts:
// wireguard-go itself when WGPLEX_TEST_IMPL=wireguard-go (so the harness can
// be proven against the reference before wgplex exists), else WGPLEX_BIN,
// else a fresh build of ./cmd/wgplex.
func resolveUnderTest() (Impl, error) {
	switch impl := os.Getenv("WGPLEX_TEST_IMPL"); impl {
	case "wireguard-go":
		return reference, referenceErr
	case "", "wgplex":
	default:
		return Impl{}, fmt.Errorf("WGPLEX_TEST_IMPL=%q: want wgplex or wireguard-go", impl)
	}
	if bin := os.Getenv("WGPLEX_BIN"); bin != "" {
		abs, err := realPath(bin)
		if err != nil {
			return Impl{}, fmt.Errorf("WGPLEX_BIN: %w", err)
		}
		return Impl{Name: "wgplex", Bin: abs}, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return Impl{}, err
	}
	dir, err := os.MkdirTemp("", "wgpx-build-")
	if err != nil {
		return Impl{}, err
	}
	buildDir = dir
	bin := filepath.Join(dir, "wgplex")
	if err := testbuild.Build(root, bin, false, "./cmd/wgplex"); err != nil {
		return Impl{}, fmt.Errorf("building wgplex in %s: %w", root, err)
	}
	if real, err := realPath(bin); err == nil {
		bin = real
	}
	return Impl{Name: "wgplex", Bin: bin}, nil
}

// moduleRoot is two directories above this file; asking the source location
// rather than the working directory keeps it right however go test is run.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the test source file")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("module root not found above %s: %w", file, err)
	}
	return root, nil
}

// findWireGuardGo locates the reference daemon. `go install
// golang.zx2c4.com/wireguard@v` names the binary "wireguard" (the main
// package is the module root), distribution packages name it
// "wireguard-go"; either is accepted, and the binary must say it is
// wireguard-go so that an unrelated "wireguard" on PATH is not mistaken for it.
func findWireGuardGo() (Impl, error) {
	var candidates []string
	if bin := os.Getenv("WIREGUARD_GO_BIN"); bin != "" {
		candidates = append(candidates, bin)
	} else {
		for _, name := range []string{"wireguard-go", "wireguard"} {
			if p, err := exec.LookPath(name); err == nil {
				candidates = append(candidates, p)
			}
		}
		if out, err := exec.Command(testbuild.Go(), "env", "GOPATH").Output(); err == nil {
			for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
				candidates = append(candidates,
					filepath.Join(gp, "bin", "wireguard-go"),
					filepath.Join(gp, "bin", "wireguard"))
			}
		}
	}
	for _, c := range candidates {
		abs, err := realPath(c)
		if err != nil {
			continue
		}
		out, _ := exec.Command(abs, "--version").CombinedOutput()
		if strings.Contains(string(out), "wireguard-go") {
			return Impl{Name: "wireguard-go", Bin: abs}, nil
		}
	}
	return Impl{}, fmt.Errorf("wireguard-go not found (looked at %q); run scripts/test.sh or set WIREGUARD_GO_BIN", candidates)
}

// requireHost skips the test, or fails it under CI=true, when the machine
// cannot run end-to-end tests at all.
func requireHost(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces and TUN devices)")
	}
	if !fileExists("/dev/net/tun") {
		missing = append(missing, "/dev/net/tun")
	}
	for _, bin := range []string{"ip", "ss", "ping", "wg", "wg-quick", "iperf3"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if referenceErr != nil {
		missing = append(missing, referenceErr.Error())
	}
	if len(missing) == 0 {
		return
	}
	msg := "end-to-end prerequisites missing: " + strings.Join(missing, "; ") +
		" (scripts/test.sh installs the tools)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// implUnderTest returns the implementation the suite is about. A failed
// build is a failure, never a skip: it is exactly what the suite must report.
func implUnderTest(t testing.TB) Impl {
	t.Helper()
	requireHost(t)
	if underTestErr != nil {
		t.Fatalf("implementation under test: %v", underTestErr)
	}
	return underTest
}

// implReference returns wireguard-go, the implementation wgplex must match.
func implReference(t testing.TB) Impl {
	t.Helper()
	requireHost(t)
	return reference
}

// realPath is p made absolute with symlinks resolved: the form
// /proc/PID/exe shows, which is how the tests find a daemon's processes.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
