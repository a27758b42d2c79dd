// SPDX-License-Identifier: MIT

package metrics

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// ParseNames reads peer names from a wg(8) or wg-quick(8) configuration
// file. Operators name peers with a comment inside the [Peer] section,
// because the file format has no name field:
//
//	[Peer]
//	# friendly_name = laptop     (prometheus_wireguard_exporter's convention)
//	# Name = laptop              (wg-easy, wg-gen-web and hand-written files)
//	PublicKey = 2S7mA0vEMethCNQrJpJKE81/JmhgtB+tHHLYQhgM6kk=
//
// Only [Peer] sections are looked at, and in them only PublicKey and those
// two comments; keys are matched without regard to case, like wg-quick
// does. When a section has both comments, friendly_name wins, so that a
// file written for that exporter keeps its labels. A section without a
// valid public key is skipped rather than failing the whole file: a names
// file is a convenience and a typo must not take every name away. The map
// is keyed by the base64 public key as wg(8) prints it.
func ParseNames(data []byte) map[string]string {
	names := make(map[string]string)
	var (
		inPeer       bool
		key          string
		name, friend string
	)
	flush := func() {
		if inPeer && key != "" {
			switch {
			case friend != "":
				names[key] = friend
			case name != "":
				names[key] = name
			}
		}
		key, name, friend = "", "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			flush()
			inPeer = strings.EqualFold(strings.TrimSpace(strings.Trim(line, "[]")), "peer")
			continue
		}
		if !inPeer || line == "" {
			continue
		}
		if comment, ok := strings.CutPrefix(line, "#"); ok {
			k, v, ok := strings.Cut(comment, "=")
			if !ok {
				continue
			}
			v = labelSafe(strings.TrimSpace(v))
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "friendly_name":
				friend = v
			case "name":
				name = v
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "publickey") {
			continue
		}
		if i := strings.IndexByte(v, '#'); i >= 0 {
			v = v[:i]
		}
		v = strings.TrimSpace(v)
		if validKey(v) {
			key = v
		}
	}
	// A line longer than the scanner's limit ends the scan; what was read
	// up to there is still good.
	flush()
	return names
}

// validKey reports whether s is a base64 Curve25519 key as wg(8) prints it.
func validKey(s string) bool {
	if len(s) != 44 {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// labelSafe bounds a name taken from a file before it becomes a label
// value: valid UTF-8 (the exposition format requires it) and at most 128
// bytes, so that a mistake in the file cannot blow up every series.
func labelSafe(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > maxNameLen {
		s = s[:maxNameLen]
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

const maxNameLen = 128

// nameSource keeps the names of a config file current: on each scrape it
// compares the file's modification time and size with what it last read,
// and re-reads the file only when they changed. The check is one stat per
// scrape; the data path is not involved.
type nameSource struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	mtime   time.Time
	size    int64
	loaded  bool
	names   map[string]string
	lastErr string // last error logged, so a missing file is not logged every scrape
}

func newNameSource(path string, log *slog.Logger) *nameSource {
	return &nameSource{path: path, log: log}
}

// current returns the names to use for this scrape. On an error (the file
// was removed, or is being replaced) the last names read stay in use.
func (s *nameSource) current() map[string]string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if err != nil {
		s.report(err)
		return s.names
	}
	if s.loaded && fi.ModTime().Equal(s.mtime) && fi.Size() == s.size {
		return s.names
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		s.report(err)
		return s.names
	}
	s.names = ParseNames(data)
	s.mtime, s.size, s.loaded = fi.ModTime(), fi.Size(), true
	s.lastErr = ""
	return s.names
}

func (s *nameSource) report(err error) {
	msg := fmt.Sprint(err)
	if msg != s.lastErr {
		s.lastErr = msg
		s.log.Warn("Cannot read the peer names file; keeping the last names read", "path", s.path, "err", err)
	}
}
