// SPDX-License-Identifier: MIT

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// binSBOM is what cyclonedx-gomod's bin mode writes for one binary (with
// -short-purls), reduced to the fields the merge uses.
func binSBOM(t *testing.T, dir, binary string, deps ...string) string {
	t.Helper()
	const ref = "pkg:golang/example.com/proj@v1.2.3?type=module"
	var comps []map[string]any
	var refs []string
	for _, d := range deps {
		path, version, _ := strings.Cut(d, "@")
		r := "pkg:golang/" + d + "?type=module"
		comps = append(comps, map[string]any{"bom-ref": r, "type": "library", "name": path, "version": version, "purl": "pkg:golang/" + d})
		refs = append(refs, r)
	}
	doc := map[string]any{
		"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
		"metadata": map[string]any{
			"component": map[string]any{"bom-ref": ref, "type": "application", "name": "example.com/proj", "version": "v1.2.3",
				"purl": "pkg:golang/example.com/proj@v1.2.3"},
			"properties": []map[string]string{{"name": "cdx:gomod:binary:name", "value": binary}},
		},
		"components":   comps,
		"dependencies": []map[string]any{{"ref": ref, "dependsOn": refs}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, binary+".json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMergeSBOMs(t *testing.T) {
	dir := t.TempDir()
	in := []string{
		binSBOM(t, dir, "daemon", "example.com/a@v1.0.0", "example.com/b@v2.0.0"),
		binSBOM(t, dir, "plugin.exe", "example.com/a@v1.0.0", "example.com/c@v0.1.0"),
	}
	mains := map[string]string{"daemon": "example.com/proj/cmd/daemon", "plugin": "example.com/proj/plugins/plugin"}
	mods := []*mod{
		{Path: "example.com/a", Version: "v1.0.0", Licences: []string{"MIT"}},
		{Path: "example.com/b", Version: "v2.0.0", Licences: []string{"Apache-2.0", "MIT"}},
		{Path: "example.com/c", Version: "v0.1.0", Licences: []string{"BSD-3-Clause"}},
	}
	std := &mod{Path: "std", Licences: []string{"BSD-3-Clause"}}
	bom, err := mergeSBOMs(in, mains, mods, std, "urn:uuid:00000000-0000-5000-8000-000000000000", "2030-01-02T03:04:05Z")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeBOM(&buf, bom); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := len(*bom.Components); n != 5 {
		t.Errorf("%d components, want 2 binaries + 3 modules:\n%s", n, out)
	}
	for _, want := range []string{
		`"serialNumber": "urn:uuid:00000000-0000-5000-8000-000000000000"`,
		`"timestamp": "2030-01-02T03:04:05Z"`,
		`"bom-ref": "pkg:golang/example.com/proj@v1.2.3?type=module#cmd/daemon"`,
		`"bom-ref": "pkg:golang/example.com/proj@v1.2.3?type=module#plugins/plugin"`,
		`"expression": "Apache-2.0 AND MIT"`,
		`"id": "BSD-3-Clause"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("merged SBOM lacks %s:\n%s", want, out)
		}
	}
	deps := map[string][]string{}
	for _, d := range *bom.Dependencies {
		if d.Dependencies != nil {
			deps[d.Ref] = *d.Dependencies
		}
	}
	if got := deps["pkg:golang/example.com/proj@v1.2.3?type=module#plugins/plugin"]; strings.Join(got, " ") !=
		"pkg:golang/example.com/a@v1.0.0?type=module pkg:golang/example.com/c@v0.1.0?type=module" {
		t.Errorf("the plugin's dependencies: %v", got)
	}
	if got := deps["pkg:golang/example.com/proj@v1.2.3?type=module"]; len(got) != 2 {
		t.Errorf("the module's dependencies (its binaries): %v", got)
	}

	// A component whose module the binaries do not link is an error, not
	// a component without a licence.
	if _, err := mergeSBOMs(in, mains, mods[:2], std, "", ""); err == nil {
		t.Error("merged an SBOM naming a module without a known licence")
	}
	// So is a binary nobody gave.
	if _, err := mergeSBOMs(in, map[string]string{"daemon": "example.com/proj/cmd/daemon"}, mods, std, "", ""); err == nil {
		t.Error("merged an SBOM of an unknown binary")
	}
}
