// SPDX-License-Identifier: MIT

// Package testbuild builds the module's commands for tests that run them as
// separate processes (the daemon, the plugins), the way scripts/dist.sh
// builds a release: static (CGO_ENABLED=0) and with -trimpath. Only the
// PKCS#11 key vault, which needs cgo, is built with it, and then as
// dist.sh builds it too: position-independent, with the same hardening
// flags for the C compiler and linker (see CgoEnv).
//
// Building them alike everywhere is also what keeps a test run fast on an
// empty build cache: `go vet` in scripts/test.sh compiles every package
// with the same settings, so these builds, the release build and the
// scaffolded plugins' builds reuse its compiled packages instead of each
// compiling the dependency graph (grpc, etcd's client, gVisor) again.
package testbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Go returns the go command of the toolchain that built the running test,
// so that what it builds is built with the same Go version; "go" from PATH
// when that toolchain has no go command.
func Go() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	return "go"
}

// CgoEnv is the C compiler and linker flags scripts/dist.sh builds the
// cgo plugin with (hardened as Debian builds C programs: fortified libc
// calls, read-only relocations bound at start). Build uses them with
// -buildmode=pie, as dist.sh does, because -buildmode=pie compiles every
// Go package of the binary differently (position-independent code): a
// test build with other settings would compile the plugin's whole
// dependency graph once more, and the release build would not reuse it.
// Keep the two in step.
var CgoEnv = []string{
	"CGO_CFLAGS=-O2 -D_FORTIFY_SOURCE=2",
	"CGO_LDFLAGS=-Wl,-z,relro -Wl,-z,now",
}

// Build runs `go build -trimpath -o OUT PKGS...` in dir (any directory of
// the module; packages may be import paths or relative to dir). OUT is a
// file for one package or a directory (ending in a separator) for several.
// cgo says whether the packages need cgo; without it they are built
// static, with it position-independent with CgoEnv.
// The error carries the go command's output.
func Build(dir, out string, cgo bool, pkgs ...string) error {
	args := []string{"build", "-trimpath"}
	env := append(os.Environ(), "CGO_ENABLED=0")
	if cgo {
		args = append(args, "-buildmode=pie")
		env = append(append(os.Environ(), "CGO_ENABLED=1"), CgoEnv...)
	}
	args = append(append(args, "-o", out), pkgs...)
	cmd := exec.Command(Go(), args...)
	cmd.Dir = dir
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}
