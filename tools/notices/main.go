// SPDX-License-Identifier: MIT

// Command notices writes the third-party notices of Go binaries: for every
// module a binary links (as recorded in its build information, the list
// `go version -m` prints), the licence texts and NOTICE files found at the
// root of the module in the module cache, and the Go distribution's own
// licence for the standard library and runtime. It fails when a linked
// module has no licence file or a licence outside the allow-list, so a
// release cannot ship a dependency nobody checked.
//
//	notices [-text FILE] [-dep5 FILE] [-cyclonedx FILE -sbom SBOM...] [-allow IDS] BINARY...
//
// -text writes the THIRD_PARTY_NOTICES.txt of the release archives; -dep5
// a machine-readable Debian copyright file for the Debian package, whose
// "Files:" patterns name each module as it would lie in a vendor/
// directory of the source tree; -cyclonedx merges the per-binary SBOMs of
// cyclonedx-gomod into one SBOM for the archive, with the licences found
// here. Output depends only on the binaries, the module cache's contents
// and the flags, so it is reproducible.
package main

import (
	"bytes"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/module"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "notices: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("notices", flag.ContinueOnError)
	textOut := fs.String("text", "", "write the plain-text notices to `file` (- for standard output)")
	dep5Out := fs.String("dep5", "", "write a Debian copyright file (DEP-5) to `file`")
	cdxOut := fs.String("cyclonedx", "", "write the merged CycloneDX SBOM to `file`")
	spdxOut := fs.String("spdx", "", "write the SPDX licence expression of the whole (the project's licence AND every linked one) to `file`")
	var sboms listFlag
	fs.Var(&sboms, "sbom", "a cyclonedx-gomod `SBOM` of one of the binaries, to merge (repeat for each)")
	serial := fs.String("serial", "", "the merged SBOM's serial number (`urn:uuid:...`); derive it from the release for reproducibility")
	timestamp := fs.String("timestamp", "", "the merged SBOM's `time` (RFC 3339), e.g. from SOURCE_DATE_EPOCH")
	allow := fs.String("allow", strings.Join(DefaultAllowed, ","), "comma-separated SPDX `ids` a linked module may carry")
	modCache := fs.String("modcache", "", "module cache `directory` (default: go env GOMODCACHE)")
	goRoot := fs.String("goroot", "", "Go distribution `directory` for the standard library's licence (default: go env GOROOT)")
	var meta dep5Meta
	fs.StringVar(&meta.Name, "name", "wgplex", "the project's `name` (dep5)")
	fs.StringVar(&meta.Contact, "contact", "", "the project's `contact` address (dep5)")
	fs.StringVar(&meta.Source, "source", "", "where the project's source is published, a `URL` (dep5)")
	ownLicence := fs.String("licence", "LICENSE", "the project's own licence `file` (dep5)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: notices [-text FILE] [-dep5 FILE] [-cyclonedx FILE -sbom SBOM...] BINARY...")
	}
	var err error
	if *modCache == "" {
		if *modCache, err = goEnv("GOMODCACHE"); err != nil {
			return err
		}
	}
	if *goRoot == "" {
		if *goRoot, err = goEnv("GOROOT"); err != nil {
			return err
		}
	}
	mods, mains, err := linkedModules(fs.Args())
	if err != nil {
		return err
	}
	std, err := goLicence(*goRoot)
	if err != nil {
		return err
	}
	if err := collect(mods, *modCache); err != nil {
		return err
	}
	// The check comes before any output, so that a failed check leaves
	// nothing behind that looks like a result.
	if err := check(append([]*mod{std}, mods...), strings.Split(*allow, ",")); err != nil {
		return err
	}
	write := func(path string, fill func(*bytes.Buffer) error) error {
		if path == "" {
			return nil
		}
		var buf bytes.Buffer
		if err := fill(&buf); err != nil {
			return err
		}
		if path == "-" {
			_, err := stdout.Write(buf.Bytes())
			return err
		}
		return os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err := write(*textOut, func(b *bytes.Buffer) error { writeText(b, std, mods); return nil }); err != nil {
		return err
	}
	if err := write(*dep5Out, func(b *bytes.Buffer) error {
		text, err := os.ReadFile(*ownLicence)
		if err != nil {
			return err
		}
		meta.Licence = string(text)
		ids := classify(meta.Licence)
		if len(ids) != 1 {
			return fmt.Errorf("%s: expected one recognised licence, found %v", *ownLicence, ids)
		}
		meta.LicenceID = ids[0]
		if meta.Contact == "" || meta.Source == "" {
			return errors.New("-dep5 needs -contact and -source")
		}
		writeDEP5(b, meta, std, mods)
		return nil
	}); err != nil {
		return err
	}
	if err := write(*spdxOut, func(b *bytes.Buffer) error {
		b.WriteString(spdxExpression(*ownLicence, std, mods) + "\n")
		return nil
	}); err != nil {
		return err
	}
	if (*cdxOut == "") != (len(sboms) == 0) {
		return errors.New("-cyclonedx and -sbom go together")
	}
	return write(*cdxOut, func(b *bytes.Buffer) error {
		bom, err := mergeSBOMs(sboms, mains, mods, std, *serial, *timestamp)
		if err != nil {
			return err
		}
		return writeBOM(b, bom)
	})
}

// spdxExpression is the licence of a package holding the binaries: the
// project's own licence first, then every other one, each once.
func spdxExpression(ownLicence string, std *mod, mods []*mod) string {
	var ids []string
	if b, err := os.ReadFile(ownLicence); err == nil {
		ids = classify(string(b))
	}
	var others []string
	for _, m := range append([]*mod{std}, mods...) {
		for _, id := range m.Licences {
			if !contains(ids, id) && !contains(others, id) {
				others = append(others, id)
			}
		}
	}
	sort.Strings(others)
	return strings.Join(append(ids, others...), " AND ")
}

// listFlag collects the values of a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func goEnv(name string) (string, error) {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// mod is one linked module and what was found about its licence.
type mod struct {
	Path, Version string
	// UsedBy names the binaries that link it, sorted.
	UsedBy []string
	// Files are the licence, notice and patent files at the module's root.
	Files []licenceFile
	// Licences are the SPDX ids recognised in the licence files, sorted.
	Licences []string
}

type licenceFile struct {
	Name, Text string
	// Licence is true for a licence text, false for a NOTICE or PATENTS
	// file that accompanies one.
	Licence bool
}

// linkedModules reads the build information of every binary and returns
// the modules they link, sorted by path, with replacements resolved to
// what was actually compiled in, and each binary's main package by the
// binary's name.
func linkedModules(binaries []string) ([]*mod, map[string]string, error) {
	byKey := map[string]*mod{}
	mains := map[string]string{}
	for _, bin := range binaries {
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", bin, err)
		}
		name := strings.TrimSuffix(filepath.Base(bin), ".exe")
		mains[name] = info.Path
		for _, d := range info.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			if d.Version == "" || strings.HasPrefix(d.Path, ".") || filepath.IsAbs(d.Path) {
				return nil, nil, fmt.Errorf("%s links %s from a local directory; release builds use the module cache only", bin, d.Path)
			}
			key := d.Path + "@" + d.Version
			m := byKey[key]
			if m == nil {
				m = &mod{Path: d.Path, Version: d.Version}
				byKey[key] = m
			}
			if !contains(m.UsedBy, name) {
				m.UsedBy = append(m.UsedBy, name)
			}
		}
	}
	mods := make([]*mod, 0, len(byKey))
	for _, m := range byKey {
		sort.Strings(m.UsedBy)
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool {
		if mods[i].Path != mods[j].Path {
			return mods[i].Path < mods[j].Path
		}
		return mods[i].Version < mods[j].Version
	})
	return mods, mains, nil
}

// isLicenceName reports whether a file at a module's root is a licence
// (true, true), an accompanying notice (true, false) or neither.
func isLicenceName(name string) (match, licence bool) {
	u := strings.ToUpper(name)
	for _, p := range []string{"LICENSE", "LICENCE", "COPYING", "UNLICENSE"} {
		if strings.HasPrefix(u, p) {
			return true, true
		}
	}
	for _, p := range []string{"NOTICE", "PATENTS"} {
		if strings.HasPrefix(u, p) {
			return true, false
		}
	}
	return false, false
}

// collect reads the licence files of every module from the module cache.
func collect(mods []*mod, modCache string) error {
	for _, m := range mods {
		dir, err := moduleDir(modCache, m.Path, m.Version)
		if err != nil {
			return err
		}
		files, err := readLicenceFiles(dir)
		if err != nil {
			return fmt.Errorf("%s@%s: %w", m.Path, m.Version, err)
		}
		m.Files = files
		m.Licences = licencesOf(files)
	}
	return nil
}

func moduleDir(modCache, path, version string) (string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(modCache, filepath.FromSlash(ep)+"@"+ev)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("%s@%s is not in the module cache (%s); run go mod download", path, version, dir)
	}
	return dir, nil
}

// maxLicenceFile bounds what is read of one file: licence texts are a few
// KiB, and a module that ships something huge under such a name must not
// balloon every notices file.
const maxLicenceFile = 256 << 10

func readLicenceFiles(dir string) ([]licenceFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []licenceFile
	for _, e := range entries {
		match, licence := isLicenceName(e.Name())
		if !match || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if len(b) > maxLicenceFile {
			return nil, fmt.Errorf("%s is larger than %d bytes", e.Name(), maxLicenceFile)
		}
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		files = append(files, licenceFile{Name: e.Name(), Text: strings.TrimRight(text, "\n \t") + "\n", Licence: licence})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

func licencesOf(files []licenceFile) []string {
	var ids []string
	for _, f := range files {
		if !f.Licence {
			continue
		}
		for _, id := range classify(f.Text) {
			if !contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// goLicence is the Go distribution's licence, which covers the standard
// library and runtime compiled into every binary.
func goLicence(goRoot string) (*mod, error) {
	b, err := os.ReadFile(filepath.Join(goRoot, "LICENSE"))
	if err != nil {
		return nil, fmt.Errorf("the Go distribution's licence: %w", err)
	}
	files := []licenceFile{{Name: "LICENSE", Text: strings.TrimRight(string(b), "\n") + "\n", Licence: true}}
	if p, err := os.ReadFile(filepath.Join(goRoot, "PATENTS")); err == nil {
		files = append(files, licenceFile{Name: "PATENTS", Text: strings.TrimRight(string(p), "\n") + "\n"})
	}
	return &mod{Path: "std", Version: "(the Go standard library and runtime)", Files: files, Licences: licencesOf(files)}, nil
}

// check fails unless every module has a recognised licence on the
// allow-list, naming every offender at once.
func check(mods []*mod, allowed []string) error {
	var bad []string
	for _, m := range mods {
		switch {
		case !hasLicenceFile(m):
			bad = append(bad, fmt.Sprintf("%s@%s: no licence file at the module root", m.Path, m.Version))
		case len(m.Licences) == 0:
			bad = append(bad, fmt.Sprintf("%s@%s: licence not recognised (%s)", m.Path, m.Version, fileNames(m)))
		default:
			for _, id := range m.Licences {
				if !contains(allowed, id) {
					bad = append(bad, fmt.Sprintf("%s@%s: %s is not on the allow-list (%s)", m.Path, m.Version, id, strings.Join(allowed, ", ")))
				}
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("licence check failed:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

func hasLicenceFile(m *mod) bool {
	for _, f := range m.Files {
		if f.Licence {
			return true
		}
	}
	return false
}

func fileNames(m *mod) string {
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}
