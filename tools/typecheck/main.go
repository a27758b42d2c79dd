// SPDX-License-Identifier: MIT

// Command typecheck type-checks every package of a module, its tests
// included, for other operating systems and architectures, from source and
// without compiling anything.
//
//	typecheck [-C DIR] GOOS/GOARCH[/GOARM]... [-- PACKAGES...]
//
// For each target it asks `go list -deps -test` (with GOOS, GOARCH and
// CGO_ENABLED=0 set as a release build sets them) which files make up each
// package, then runs go/types over the whole graph: the main module's
// packages and their test variants in full, the standard library and the
// other modules' packages for their declarations only (their function bodies
// are not the module's to check, and skipping them is most of the speed).
//
// Why not `go vet` with GOOS set: vet needs the export data of every
// dependency, so it compiles the whole graph (grpc, etcd's client, gVisor,
// ...) once per target, which is about two minutes of a 2-vCPU machine per
// target on an empty build cache. Type-checking from source finds what breaks
// a platform (a missing function, a signature that differs between a
// _linux.go and a _bsd.go file, an unused import behind a build tag) in a
// fraction of that. go vet's analyzers run on the host target, where the
// code they look at is the same.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

// listed is the part of `go list -json` output the checker reads.
type listed struct {
	ImportPath string
	Name       string
	Dir        string
	GoFiles    []string
	Imports    []string
	ImportMap  map[string]string
	Standard   bool
	ForTest    string
	Module     *struct {
		Path      string
		Main      bool
		GoVersion string
	}
	Error *struct {
		Err string
	}
}

// maxErrors bounds the errors reported per target: the first few say what
// is wrong, the rest usually follow from them.
const maxErrors = 30

func main() {
	dir := flag.String("C", ".", "the module's directory")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: typecheck [-C DIR] GOOS/GOARCH[/GOARM]... [-- PACKAGES...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	var targets, patterns []string
	args := flag.Args()
	for i, a := range args {
		if a == "--" {
			patterns = args[i+1:]
			break
		}
		targets = append(targets, a)
	}
	if len(targets) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	failed := false
	for _, t := range targets {
		env, goarch, err := targetEnv(t)
		if err != nil {
			fmt.Fprintf(os.Stderr, "typecheck: %v\n", err)
			os.Exit(2)
		}
		start := time.Now()
		n, errs := check(*dir, env, goarch, patterns)
		for i, err := range errs {
			if i == maxErrors {
				fmt.Fprintf(os.Stderr, "%s: ... and %d more\n", t, len(errs)-maxErrors)
				break
			}
			fmt.Fprintf(os.Stderr, "%s: %v\n", t, err)
		}
		status := "ok"
		if len(errs) > 0 {
			status = fmt.Sprintf("FAIL (%d errors)", len(errs))
			failed = true
		}
		fmt.Printf("%-16s %s: %d packages in %.1fs\n", t, status, n, time.Since(start).Seconds())
	}
	if failed {
		os.Exit(1)
	}
}

// targetEnv returns the go command's environment for a target written as
// dist.sh writes them (GOOS/GOARCH, or GOOS/GOARCH/GOARM for 32-bit ARM),
// and its GOARCH.
func targetEnv(t string) ([]string, string, error) {
	parts := strings.Split(t, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, "", fmt.Errorf("%q is not GOOS/GOARCH or GOOS/GOARCH/GOARM", t)
	}
	env := []string{"GOOS=" + parts[0], "GOARCH=" + parts[1], "CGO_ENABLED=0"}
	if len(parts) == 3 {
		if parts[1] != "arm" || parts[2] == "" {
			return nil, "", fmt.Errorf("%q: a third part is GOARM, for GOARCH arm only", t)
		}
		env = append(env, "GOARM="+parts[2])
	}
	return env, parts[1], nil
}

// check type-checks the packages matching patterns, with their tests and
// dependencies, for one target. It returns how many packages it checked
// and the errors found.
func check(dir string, env []string, goarch string, patterns []string) (int, []error) {
	pkgs, err := list(dir, env, patterns)
	if err != nil {
		return 0, []error{err}
	}
	sizes := types.SizesFor("gc", goarch)
	if sizes == nil {
		return 0, []error{fmt.Errorf("no type sizes for GOARCH %q", goarch)}
	}
	c := &checker{
		fset:  token.NewFileSet(),
		sizes: sizes,
		pkgs:  pkgs,
		done:  make(map[string]*result, len(pkgs)),
		sem:   make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	for id := range pkgs {
		c.done[id] = &result{ready: make(chan struct{})}
	}
	var wg sync.WaitGroup
	for id := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(id)
		}()
	}
	wg.Wait()
	// A package and its test variant share files: an error in one of those
	// files is reported once.
	var errs []error
	seen := make(map[string]bool)
	ids := make([]string, 0, len(pkgs))
	for id := range pkgs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, err := range c.done[id].errs {
			if !seen[err.Error()] {
				seen[err.Error()] = true
				errs = append(errs, err)
			}
		}
	}
	return len(pkgs), errs
}

// list runs `go list -deps -test` for the target and returns its packages
// by import path (test variants carry their " [p.test]" suffix). The
// generated test mains are left out: the go command writes them, and they
// only call the testing package.
func list(dir string, env []string, patterns []string) (map[string]*listed, error) {
	args := append([]string{"list", "-e", "-deps", "-test",
		"-json=ImportPath,Name,Dir,GoFiles,Imports,ImportMap,Standard,ForTest,Module,Error"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	pkgs := make(map[string]*listed)
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(listed)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %v", err)
		}
		if p.ForTest == "" && p.Name == "main" && strings.HasSuffix(p.ImportPath, ".test") {
			continue
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs, nil
}

// result is one package's outcome; ready is closed once it is known.
type result struct {
	ready chan struct{}
	pkg   *types.Package
	errs  []error
}

type checker struct {
	fset  *token.FileSet
	sizes types.Sizes
	pkgs  map[string]*listed
	done  map[string]*result
	sem   chan struct{} // bounds the packages checked at once
}

// run checks one package once every package it imports is checked.
func (c *checker) run(id string) {
	res := c.done[id]
	defer close(res.ready)
	p := c.pkgs[id]
	for _, imp := range p.Imports {
		if dep, ok := c.done[imp]; ok {
			<-dep.ready
		}
	}
	c.sem <- struct{}{}
	defer func() { <-c.sem }()

	mine := p.Module != nil && p.Module.Main
	if p.Error != nil && mine {
		res.errs = append(res.errs, fmt.Errorf("%s: %s", id, p.Error.Err))
		return
	}
	files := make([]*ast.File, 0, len(p.GoFiles))
	for _, name := range p.GoFiles {
		path := name
		if !strings.HasPrefix(path, "/") {
			path = p.Dir + "/" + name
		}
		f, err := parser.ParseFile(c.fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			res.errs = append(res.errs, err)
			return
		}
		files = append(files, f)
	}
	conf := types.Config{
		Importer:         importer{c, p},
		Sizes:            c.sizes,
		IgnoreFuncBodies: !mine,
		// The standard library is checked at the toolchain's own language
		// version; a module at the version its go.mod declares.
		Error: func(err error) {
			if mine || len(res.errs) < maxErrors {
				res.errs = append(res.errs, err)
			}
		},
	}
	if p.Module != nil && p.Module.GoVersion != "" {
		conf.GoVersion = "go" + p.Module.GoVersion
	}
	// The path without the test suffix is the one the compiler gives the
	// package; the suffix only tells test variants apart in the graph.
	path, _, _ := strings.Cut(id, " ")
	pkg, _ := conf.Check(path, c.fset, files, nil)
	res.pkg = pkg
	if !mine && len(res.errs) > 0 {
		// An error in a dependency means the checker and the compiler
		// disagree about it: worth knowing, but name it as such.
		for i, err := range res.errs {
			res.errs[i] = fmt.Errorf("dependency %s: %v", id, err)
		}
	}
}

// importer resolves the imports of one package to the packages checked
// before it, through the package's import map (which points test builds at
// the test variants of the packages they import).
type importer struct {
	c *checker
	p *listed
}

func (im importer) Import(path string) (*types.Package, error) {
	if path == "unsafe" {
		return types.Unsafe, nil
	}
	id := path
	if mapped, ok := im.p.ImportMap[path]; ok {
		id = mapped
	}
	res, ok := im.c.done[id]
	if !ok {
		return nil, fmt.Errorf("%s is not in the package graph", id)
	}
	<-res.ready
	if res.pkg == nil {
		return nil, fmt.Errorf("%s could not be checked", id)
	}
	return res.pkg, nil
}
