// SPDX-License-Identifier: MIT

package metrics

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/wgplex/wgplex/metrics/peernames"
)

// ParseNames reads peer names from a wg(8) or wg-quick(8) configuration
// file: see peernames.Parse for the conventions it understands. The map
// is keyed by the base64 public key as wg(8) prints it.
func ParseNames(data []byte) map[string]string { return peernames.Parse(data) }

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
