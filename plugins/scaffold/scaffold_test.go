// SPDX-License-Identifier: MIT

package scaffold

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteBothKinds(t *testing.T) {
	root := FindCheckout(".")
	if root == "" {
		t.Fatal("the test runs inside a wgplex checkout but did not find it")
	}
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new")
			files, err := Write(Options{Kind: kind, Name: "my-" + kind, Dir: dir, Replace: root})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 3 {
				t.Fatalf("wrote %v", files)
			}
			mod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
			for _, want := range []string{"module example.com/my-" + kind, "require github.com/wgplex/wgplex v0.0.0", "replace github.com/wgplex/wgplex => " + root} {
				if !strings.Contains(string(mod), want) {
					t.Errorf("go.mod lacks %q:\n%s", want, mod)
				}
			}
			fset := token.NewFileSet()
			for _, f := range []string{"main.go", "main_test.go"} {
				src, _ := os.ReadFile(filepath.Join(dir, f))
				if _, err := parser.ParseFile(fset, f, src, parser.AllErrors); err != nil {
					t.Errorf("%s does not parse: %v", f, err)
				}
				if strings.Contains(string(src), "{{") || strings.Contains(string(src), "SPDX") {
					t.Errorf("%s carries template text", f)
				}
			}
			main, _ := os.ReadFile(filepath.Join(dir, "main_test.go"))
			if !strings.Contains(string(main), "sdktest.") {
				t.Error("the test does not run the conformance suite")
			}
		})
	}
}

func TestWriteRefuses(t *testing.T) {
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Kind: "vault", Name: "a", Dir: t.TempDir()}, "unknown plugin kind"},
		{Options{Kind: "keyvault", Name: "My Vault", Dir: t.TempDir()}, "plugin name"},
		{Options{Kind: "keyvault", Name: "../x", Dir: t.TempDir()}, "plugin name"},
		{Options{Kind: "keyvault", Name: "ok", Dir: full}, "not empty"},
		{Options{Kind: "keyvault", Name: "ok", Dir: t.TempDir(), Module: "a\"b"}, "module path"},
	} {
		if _, err := Write(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Error("a refused write touched the directory")
	}
}

func TestGoDirective(t *testing.T) {
	p := filepath.Join(t.TempDir(), "go.mod")
	os.WriteFile(p, []byte("module x\n\ngo 1.26.0\n\nrequire y v1.0.0\n"), 0o644)
	if got := GoDirective(p); got != "1.26.0" {
		t.Fatalf("got %q", got)
	}
	os.WriteFile(p, []byte("module x\ngo 1.2x\n"), 0o644)
	if got := GoDirective(p); got != "" {
		t.Fatalf("got %q from a bad line", got)
	}
}
