// SPDX-License-Identifier: MIT

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModule lays out a small module whose files have build constraints,
// so that what is wrong depends on the target.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.22\n"
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func checkTarget(t *testing.T, dir, target string) []error {
	t.Helper()
	env, goarch, err := targetEnv(target)
	if err != nil {
		t.Fatal(err)
	}
	n, errs := check(dir, env, goarch, []string{"./..."})
	if n == 0 && len(errs) == 0 {
		t.Fatalf("%s: no packages checked", target)
	}
	return errs
}

func TestErrorOnlyOnItsTarget(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"p/p.go":         "package p\n\nfunc Use() int { return value() }\n",
		"p/p_linux.go":   "package p\n\nfunc value() int { return 1 }\n",
		"p/p_freebsd.go": "package p\n\nfunc value() string { return \"1\" }\n",
		"p/p_windows.go": "package p\n\nfunc value() int { return 2 }\n",
		"p/p_test.go":    "package p\n\nimport \"testing\"\n\nfunc TestUse(t *testing.T) { _ = Use() }\n",
	})
	for _, target := range []string{"linux/amd64", "windows/amd64", "linux/arm/7"} {
		if errs := checkTarget(t, dir, target); len(errs) != 0 {
			t.Errorf("%s: unexpected errors: %v", target, errs)
		}
	}
	errs := checkTarget(t, dir, "freebsd/amd64")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "p.go") {
		t.Fatalf("freebsd/amd64: want one error in p.go (reported once for the package and its test variant), got %v", errs)
	}
}

func TestErrorInTestFile(t *testing.T) {
	dir := writeModule(t, map[string]string{
		"q/q.go":              "package q\n\nfunc F() {}\n",
		"q/q_openbsd_test.go": "package q\n\nimport \"testing\"\n\nfunc TestF(t *testing.T) { var unused int }\n",
		"q/x_test.go":         "package q_test\n\nimport (\n\t\"testing\"\n\n\t\"example.com/m/q\"\n)\n\nfunc TestX(t *testing.T) { q.F() }\n",
	})
	if errs := checkTarget(t, dir, "linux/amd64"); len(errs) != 0 {
		t.Fatalf("linux/amd64: unexpected errors: %v", errs)
	}
	errs := checkTarget(t, dir, "openbsd/amd64")
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "declared and not used") {
		t.Fatalf("openbsd/amd64: want the unused variable in the test file, got %v", errs)
	}
}

func TestTargetEnv(t *testing.T) {
	for _, bad := range []string{"linux", "linux/", "/amd64", "linux/amd64/7", "linux/arm/", "a/b/c/d"} {
		if _, _, err := targetEnv(bad); err == nil {
			t.Errorf("targetEnv(%q): no error", bad)
		}
	}
	env, goarch, err := targetEnv("linux/arm/7")
	if err != nil || goarch != "arm" || strings.Join(env, " ") != "GOOS=linux GOARCH=arm CGO_ENABLED=0 GOARM=7" {
		t.Fatalf("targetEnv(linux/arm/7) = %v, %q, %v", env, goarch, err)
	}
}
