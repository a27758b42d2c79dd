// SPDX-License-Identifier: MIT

package hostnet

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// rtTablesFiles are the files ip(8) reads table names from, in its order.
var rtTablesFiles = []string{"/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables", "/usr/lib/iproute2/rt_tables"}

// rtTablesDirs hold further name files (*.conf), as ip(8) reads them.
var rtTablesDirs = []string{"/etc/iproute2/rt_tables.d", "/usr/share/iproute2/rt_tables.d", "/usr/lib/iproute2/rt_tables.d"}

// ParseTable turns a Table value other than auto and off into a table
// number: a number, or a name ip(8) knows (main, local, default, or one
// from its rt_tables files).
func ParseTable(s string) (int, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return int(n), nil
	}
	switch s {
	case "main":
		return 254, nil
	case "local":
		return 255, nil
	case "default":
		return 253, nil
	}
	files := append([]string(nil), rtTablesFiles...)
	for _, d := range rtTablesDirs {
		m, _ := filepath.Glob(filepath.Join(d, "*.conf"))
		files = append(files, m...)
	}
	for _, f := range files {
		if n, ok := lookupTable(f, s); ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("routing table %q is neither a number nor a name in %s", s, rtTablesFiles[0])
}

func lookupTable(path, name string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[1] != name {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 0, 32)
		if err == nil {
			return int(n), true
		}
	}
	return 0, false
}
