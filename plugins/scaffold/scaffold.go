// SPDX-License-Identifier: MIT

// Package scaffold writes the skeleton of a new wgplex plugin: a Go module
// with a working plugin of the chosen kind, a test that runs the SDK's
// conformance suite (package sdktest) against it in process and as a
// binary, and a debug mode. `wgplex plugin new` is its command line.
package scaffold

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"text/template"
)

//go:embed templates
var templates embed.FS

// WgplexModule is the module path plugins build against.
const WgplexModule = "github.com/wgplex/wgplex"

// Kinds are the plugin kinds a skeleton can be written for.
var Kinds = []string{"keyvault", "discovery"}

// Options describe the plugin to write.
type Options struct {
	// Kind is "keyvault" or "discovery".
	Kind string
	// Name is the plugin's command name: lower-case letters, digits and
	// '-', starting with a letter.
	Name string
	// Dir is where the module is written; it must not exist or be empty.
	Dir string
	// Module is the new module's path; "example.com/NAME" if empty.
	Module string
	// Replace, if set, is a wgplex checkout the module builds against
	// (a replace directive); relative paths are taken from Dir.
	Replace string
	// WgplexVersion is the version of github.com/wgplex/wgplex to
	// require; "v0.0.0" if empty (enough with Replace).
	WgplexVersion string
	// GoVersion is the go directive; the running toolchain's if empty.
	GoVersion string
}

var validName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// check validates o and fills in the defaults.
func (o *Options) check() error {
	if !strings.Contains(" "+strings.Join(Kinds, " ")+" ", " "+o.Kind+" ") || o.Kind == "" {
		return fmt.Errorf("unknown plugin kind %q (want %s)", o.Kind, strings.Join(Kinds, " or "))
	}
	if !validName.MatchString(o.Name) {
		return fmt.Errorf("plugin name %q: use lower-case letters, digits and '-', starting with a letter", o.Name)
	}
	if o.Dir == "" {
		o.Dir = o.Name
	}
	if o.Module == "" {
		o.Module = "example.com/" + o.Name
	}
	if strings.ContainsAny(o.Module, " \t\n\"`") {
		return fmt.Errorf("module path %q", o.Module)
	}
	if o.WgplexVersion == "" {
		o.WgplexVersion = "v0.0.0"
	}
	if o.GoVersion == "" {
		o.GoVersion = strings.TrimPrefix(runtime.Version(), "go")
		if i := strings.IndexAny(o.GoVersion, " -+"); i >= 0 {
			o.GoVersion = o.GoVersion[:i]
		}
	}
	if strings.ContainsAny(o.Replace, "\n\"`") {
		return fmt.Errorf("replace path %q", o.Replace)
	}
	return nil
}

// Write writes the skeleton and returns the paths of the files written.
// Nothing is left behind when it fails.
func Write(o Options) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s exists and is not empty", o.Dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	files := map[string]string{"go.mod": "templates/go.mod.tmpl"}
	for _, f := range []string{"main.go", "main_test.go"} {
		files[f] = path.Join("templates", o.Kind, f+".tmpl")
	}
	rendered := map[string][]byte{}
	for out, tmpl := range files {
		t, err := template.ParseFS(templates, tmpl)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, o); err != nil {
			return nil, err
		}
		rendered[out] = b.Bytes()
	}
	created := false
	if _, err := os.Stat(o.Dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, err
		}
		created = true
	}
	var written []string
	for _, out := range []string{"go.mod", "main.go", "main_test.go"} {
		p := filepath.Join(o.Dir, out)
		if err := os.WriteFile(p, rendered[out], 0o644); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			if created {
				os.Remove(o.Dir)
			}
			return nil, err
		}
		written = append(written, p)
	}
	return written, nil
}

// FindCheckout looks for a wgplex source tree at dir or above it and
// returns its root, or "" if there is none.
func FindCheckout(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			first, _, _ := strings.Cut(string(data), "\n")
			if strings.TrimSpace(first) == "module "+WgplexModule {
				return dir
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// GoDirective is the version in the "go" line of the go.mod file at path,
// "" if there is none.
func GoDirective(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			v = strings.TrimSpace(v)
			if regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`).MatchString(v) {
				return v
			}
		}
	}
	return ""
}
