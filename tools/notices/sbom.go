// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// mergeSBOMs combines the per-binary SBOMs cyclonedx-gomod writes (its
// "bin" mode, one binary each) into one for a release archive: the
// module as the subject, every binary as an application component that
// depends on the modules it links, and each module's licence as
// classified here. cyclonedx-gomod's own licence detection is not used:
// it is slow and names some BSD texts differently from the notices, which
// must agree with the SBOM.
//
// mains maps each binary's name to its main package, which names the
// binary's component (cyclonedx-gomod gives every binary of one module the
// same reference once qualifiers are left out of package URLs).
func mergeSBOMs(inputs []string, mains map[string]string, mods []*mod, std *mod, serial, timestamp string) (*cdx.BOM, error) {
	licences := map[string][]string{}
	for _, m := range mods {
		licences[m.Path+"@"+m.Version] = m.Licences
	}
	var out *cdx.BOM
	components := map[string]cdx.Component{}
	deps := map[string]map[string]bool{}
	addDep := func(from string, to ...string) {
		if deps[from] == nil {
			deps[from] = map[string]bool{}
		}
		for _, t := range to {
			deps[from][t] = true
		}
	}
	for _, in := range inputs {
		bom, err := readBOM(in)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in, err)
		}
		if bom.Metadata == nil || bom.Metadata.Component == nil {
			return nil, fmt.Errorf("%s: no main component", in)
		}
		bin := *bom.Metadata.Component
		inputRef := bin.BOMRef
		if out == nil {
			out = cdx.NewBOM()
			meta := *bom.Metadata
			subject := bin
			// The module, without the binary's package fragment and binary
			// hashes, is what the archive as a whole is.
			subject.BOMRef, _, _ = strings.Cut(bin.BOMRef, "#")
			subject.PackageURL, _, _ = strings.Cut(bin.PackageURL, "#")
			subject.Hashes = nil
			subject.Properties = nil
			subject.Licenses = &cdx.Licenses{{License: &cdx.License{ID: "MIT"}}}
			meta.Component = &subject
			meta.Properties = nil
			meta.Timestamp = timestamp
			out.Metadata = &meta
		} else if sub, _, _ := strings.Cut(bin.BOMRef, "#"); sub != out.Metadata.Component.BOMRef {
			return nil, fmt.Errorf("%s describes %s, not %s", in, sub, out.Metadata.Component.BOMRef)
		}
		// The per-binary metadata (name, hashes, build settings) moves to
		// the binary's component.
		if bom.Metadata.Properties != nil {
			bin.Properties = bom.Metadata.Properties
		}
		name := binaryName(bin.Properties)
		pkg, ok := mains[name]
		if !ok {
			return nil, fmt.Errorf("%s describes a binary %q that is not among those given", in, name)
		}
		sub := strings.TrimPrefix(strings.TrimPrefix(pkg, out.Metadata.Component.Name), "/")
		bin.Name = name
		bin.BOMRef = out.Metadata.Component.BOMRef + "#" + sub
		bin.PackageURL = out.Metadata.Component.PackageURL + "#" + sub
		if _, dup := components[bin.BOMRef]; dup {
			return nil, fmt.Errorf("%s: binary %s given twice", in, name)
		}
		bin.Licenses = &cdx.Licenses{{License: &cdx.License{ID: "MIT"}}}
		components[bin.BOMRef] = bin
		addDep(out.Metadata.Component.BOMRef, bin.BOMRef)
		if bom.Components != nil {
			for _, c := range *bom.Components {
				key := c.Name + "@" + c.Version
				ids := licences[key]
				if c.Name == "std" {
					ids = std.Licences
				}
				if len(ids) == 0 {
					return nil, fmt.Errorf("%s: component %s is not among the modules the binaries link", in, key)
				}
				c.Licenses = licenceChoice(ids)
				components[c.BOMRef] = c
			}
		}
		if bom.Dependencies != nil {
			for _, d := range *bom.Dependencies {
				if d.Ref == inputRef {
					d.Ref = bin.BOMRef
				}
				addDep(d.Ref)
				if d.Dependencies != nil {
					addDep(d.Ref, *d.Dependencies...)
				}
			}
		}
	}
	if out == nil {
		return nil, fmt.Errorf("no SBOM to merge")
	}
	out.SerialNumber = serial
	list := make([]cdx.Component, 0, len(components))
	for _, c := range components {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].BOMRef < list[j].BOMRef })
	out.Components = &list
	refs := make([]string, 0, len(deps))
	for r := range deps {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	dl := make([]cdx.Dependency, 0, len(refs))
	for _, r := range refs {
		d := cdx.Dependency{Ref: r}
		if len(deps[r]) > 0 {
			on := make([]string, 0, len(deps[r]))
			for t := range deps[r] {
				on = append(on, t)
			}
			sort.Strings(on)
			d.Dependencies = &on
		}
		dl = append(dl, d)
	}
	out.Dependencies = &dl
	return out, nil
}

func binaryName(props *[]cdx.Property) string {
	if props != nil {
		for _, p := range *props {
			if p.Name == "cdx:gomod:binary:name" {
				return strings.TrimSuffix(p.Value, ".exe")
			}
		}
	}
	return ""
}

func licenceChoice(ids []string) *cdx.Licenses {
	if len(ids) == 1 {
		return &cdx.Licenses{{License: &cdx.License{ID: ids[0]}}}
	}
	return &cdx.Licenses{{Expression: strings.Join(ids, " AND ")}}
}

func readBOM(path string) (*cdx.BOM, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(io.LimitReader(f, 64<<20), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, err
	}
	return &bom, nil
}

func writeBOM(w io.Writer, bom *cdx.BOM) error {
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}
