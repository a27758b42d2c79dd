// SPDX-License-Identifier: MIT

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wgplex/wgplex/plugins/scaffold"
)

func runPlugin(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprintln(stderr, "Usage: wgplex plugin new [--module PATH] [--wgplex-src DIR] [--no-tidy] keyvault|discovery NAME [DIR]")
		return 2
	}
	fs := flag.NewFlagSet("wgplex plugin new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	module := fs.String("module", "", "module path of the new plugin (default example.com/NAME)")
	src := fs.String("wgplex-src", "", "wgplex checkout to build against (default: the one DIR or the current directory is in, if any)")
	noTidy := fs.Bool("no-tidy", false, "do not run `go mod tidy` in the new module")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	pos := fs.Args()
	if len(pos) < 2 || len(pos) > 3 {
		fmt.Fprintln(stderr, "wgplex plugin new: want KIND NAME [DIR]")
		return 2
	}
	o := scaffold.Options{Kind: pos[0], Name: pos[1], Module: *module, WgplexVersion: "v" + version}
	o.Dir = o.Name
	if len(pos) == 3 {
		o.Dir = pos[2]
	}
	// Inside a wgplex checkout (or given one), build against it; outside,
	// require the published module of this wgplex's version.
	root := *src
	if root == "" {
		if root = scaffold.FindCheckout(filepath.Dir(filepath.Clean(o.Dir))); root == "" {
			wd, _ := os.Getwd()
			root = scaffold.FindCheckout(wd)
		}
	} else if scaffold.FindCheckout(root) == "" {
		fmt.Fprintf(stderr, "wgplex plugin new: %s is not a wgplex checkout\n", root)
		return 1
	}
	if root != "" {
		o.WgplexVersion = "v0.0.0"
		o.Replace = replacePath(o.Dir, root)
		// The checkout's go directive is the oldest toolchain it builds
		// with; the running binary's may be newer than the one installed.
		o.GoVersion = scaffold.GoDirective(filepath.Join(root, "go.mod"))
	}
	files, err := scaffold.Write(o)
	if err != nil {
		fmt.Fprintf(stderr, "wgplex plugin new: %v\n", err)
		return 1
	}
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\n", f)
	}
	if !*noTidy {
		if _, err := exec.LookPath("go"); err != nil {
			fmt.Fprintln(stdout, "go is not on PATH; run `go mod tidy` in the new module before building it")
		} else {
			cmd := exec.Command("go", "mod", "tidy")
			cmd.Dir = o.Dir
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(stderr, "wgplex plugin new: go mod tidy: %v\n%s", err, out)
				return 1
			}
		}
	}
	run := map[string]string{
		"keyvault":  fmt.Sprintf("wg genkey > wg0.key && chmod 600 wg0.key\n  wgplex --keyvault \"$PWD/%s -key $PWD/wg0.key\" wg0", o.Name),
		"discovery": fmt.Sprintf("echo '[]' > peers.json\n  wgplex --discovery \"$PWD/%s -file $PWD/peers.json\" wg0", o.Name),
	}[o.Kind]
	fmt.Fprintf(stdout, "\nNext:\n  cd %s\n  go test ./...        # the conformance suite, in process and as a binary\n  go build -o %s .\n  %s\n", o.Dir, o.Name, run)
	if o.Replace == "" {
		fmt.Fprintf(stdout, "\nThe module requires %s %s; to build against a local checkout instead:\n  go mod edit -replace %s=/path/to/wgplex\n",
			scaffold.WgplexModule, o.WgplexVersion, scaffold.WgplexModule)
	}
	return 0
}

// replacePath is root as seen from dir: relative when dir is inside the
// checkout (the skeleton then moves with it), absolute otherwise.
func replacePath(dir, root string) string {
	absDir, err1 := filepath.Abs(dir)
	absRoot, err2 := filepath.Abs(root)
	if err1 != nil || err2 != nil {
		return root
	}
	if rel, err := filepath.Rel(absDir, absRoot); err == nil && strings.HasPrefix(absDir, absRoot+string(filepath.Separator)) {
		return filepath.ToSlash(rel)
	}
	return absRoot
}
