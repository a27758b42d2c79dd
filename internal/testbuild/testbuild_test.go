// SPDX-License-Identifier: MIT

package testbuild

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The built binary is static and its build information records the
// settings a release build has; a failing build reports the go command's
// output.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	out := filepath.Join(t.TempDir(), "hello")
	if err := Build(".", out, false, "./testdata/hello"); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command(Go(), "version", "-m", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"build\t-trimpath=true", "build\tCGO_ENABLED=0"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("go version -m: no %q in\n%s", want, info)
		}
	}
	err = Build(".", out, false, "./testdata/nonexistent")
	if err == nil || !strings.Contains(err.Error(), "testdata/nonexistent") {
		t.Fatalf("building a missing package: %v", err)
	}
}
