// SPDX-License-Identifier: MIT

// Package dirdisc is the directory discovery plugin: a directory of small
// peer files, one [Peer] section each, is the registry. Dropping a file in
// adds the peer, deleting it removes the peer, editing it updates the
// peer; the plugin also writes this node's own record into the directory,
// so that nodes sharing one directory (a shared or network file system, a
// directory kept in sync by other means) form a mesh.
//
// The directory is polled (by default every 500 ms) rather than watched
// with inotify: a shared directory is the main use, and inotify does not
// see changes another host makes on NFS, SMB or a FUSE file system. A
// look is one stat of the directory: files added, removed or renamed into
// place (as the plugin writes its own) change its modification time, and
// only then, or every FullScanInterval, does a full scan follow: one
// readdir and one stat per file. Files are read only when their size,
// modification time or inode changed, or when they changed within the
// last two seconds (a file system's time stamps may be too coarse to tell
// two quick edits apart; a directory changed that recently is scanned in
// full at every look). A file edited in place, which leaves the
// directory's time alone, is therefore seen within FullScanInterval; one
// written to a temporary file and renamed over the old, at the next look.
// An idle directory of thousands of peers then costs a stat twice a
// second, not thousands.
//
// The package is both the discovery-dir plugin binary and the copy
// embedded in wgplex (`wgplex --discovery-dir DIR`), which is why it is a
// package and not only a main.
package dirdisc

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/wgplex/wgplex/plugins/sdk"
)

// DefaultInterval is the default time between two scans.
const DefaultInterval = 500 * time.Millisecond

// recheckWindow: a file modified less than this long before a scan is read
// again at the next scan even if its stat looks unchanged.
const recheckWindow = 2 * time.Second

// FullScanInterval is the longest time between two full scans when the
// directory's modification time says nothing changed: it bounds how long
// a file edited in place goes unseen.
const FullScanInterval = 10 * time.Second

// Watcher is the directory discovery. It implements sdk.Discovery.
type Watcher struct {
	// Insecure, set before Run, lets the directory and files be writable
	// by others or owned by another user; by default such a directory is
	// not read and such files are ignored.
	Insecure bool

	dir      string
	interval time.Duration
	log      hclog.Logger
	set      sdk.RecordSet

	mu       sync.Mutex
	dirErr   string // why the directory is not read, "" if it is
	self     *sdk.Record
	selfFile string // base name of the file written for self
	files    map[string]*fileState
	scanned  bool
	wake     chan struct{}
	// The last full scan: the directory's modification time before it,
	// when it ran, and whether it met a file changed within
	// recheckWindow (which keeps the next look a full scan).
	dirMtime time.Time
	lastFull time.Time
	hot      bool
	// fullEvery is FullScanInterval; tests shorten it.
	fullEvery time.Duration
}

var _ sdk.Discovery = (*Watcher)(nil)

// fileState is what the last scan learnt about one file.
type fileState struct {
	size  int64
	mtime time.Time
	ino   uint64
	rec   sdk.Record
	err   string // why the file is not used, "" if it is
	// canonical: the file has the name SelfFileName gives for its key.
	canonical bool
}

// New returns a watcher of dir; it does nothing until Run.
func New(dir string, interval time.Duration, log hclog.Logger) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Watcher{
		dir:      dir,
		interval: interval,
		log:      log,
		files:    make(map[string]*fileState),
		wake:     make(chan struct{}, 1),

		fullEvery: FullScanInterval,
	}
}

// Publish implements sdk.Discovery: the record is written to the
// directory at once (and again whenever the file goes missing).
func (w *Watcher) Publish(_ context.Context, self sdk.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.self != nil && w.self.PublicKey != self.PublicKey && w.selfFile != "" {
		os.Remove(filepath.Join(w.dir, w.selfFile))
	}
	s := self.Clone()
	w.self = &s
	w.selfFile = SelfFileName(self.PublicKey)
	if err := w.writeSelf(); err != nil {
		return err
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// Watch implements sdk.Discovery.
func (w *Watcher) Watch(ctx context.Context, sink sdk.DiscoverySink) error {
	return w.set.Watch(ctx, sink)
}

// SelfFileName is the name of the file a node with key writes: derived
// from the key, so two nodes never write the same file.
func SelfFileName(key sdk.Key) string {
	return "node-" + base64.RawURLEncoding.EncodeToString(key[:]) + FileSuffix
}

// writeSelf writes the own record file atomically (a temporary file
// renamed over it), so that other nodes never read half of it. w.mu is
// held.
func (w *Watcher) writeSelf() error {
	data, err := FormatRecordFile(w.self)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(w.dir, ".wgplex-tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o644)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(w.dir, w.selfFile)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Run scans the directory until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.Scan()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.wake:
		}
	}
}

// Close removes the node's own file: a node that leaves in good order
// leaves the mesh at once.
func (w *Watcher) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.selfFile != "" {
		if err := os.Remove(filepath.Join(w.dir, w.selfFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("Could not remove this node's file", "err", err)
		}
	}
}

// Scan looks at the directory once and, if it may have changed, reads it
// and brings the record set up to date.
func (w *Watcher) Scan() {
	info, err := w.checkDir()
	if err != nil {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	mtime := info.ModTime()
	if w.scanned && !w.hot && mtime.Equal(w.dirMtime) && now.Sub(mtime) > recheckWindow &&
		now.Sub(w.lastFull) < w.fullEvery && (w.self == nil || w.files[w.selfFile] != nil) {
		return
	}
	// The directory's time is taken before the readdir: a change during
	// the scan makes the next look a full scan too.
	w.dirMtime, w.lastFull, w.hot = mtime, now, false
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.Error("Cannot read the directory; keeping the last view", "dir", w.dir, "err", err)
		return
	}
	seen := make(map[string]bool, len(entries))
	selfSeen := false
	// changed: a file was read, added or removed. An idle directory stops
	// at the stats: the records, and the order among files that claim
	// one key, are as the last scan left them.
	changed := !w.scanned
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, FileSuffix) || !e.Type().IsRegular() {
			continue
		}
		if name == w.selfFile {
			selfSeen = true
		}
		seen[name] = true
		if w.stat(name, now) {
			changed = true
		}
	}
	if w.self != nil && !selfSeen {
		if err := w.writeSelf(); err != nil {
			w.log.Error("Cannot write this node's file", "err", err)
		} else {
			w.log.Info("Wrote this node's file again", "file", w.selfFile)
		}
	}
	for name := range w.files {
		if !seen[name] {
			delete(w.files, name)
			changed = true
		}
	}
	if !changed {
		return
	}

	// One record per key: if two files claim a key, the file named after
	// the key (the one its node writes) wins, then the first name. This
	// node's own record is reported too, so that the daemon sees when
	// someone else changed it.
	names := make([]string, 0, len(w.files))
	for name := range w.files {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		ci, cj := w.canonical(names[i]), w.canonical(names[j])
		if ci != cj {
			return ci
		}
		return names[i] < names[j]
	})
	byKey := make(map[sdk.Key]sdk.Record, len(names))
	for _, name := range names {
		fs := w.files[name]
		if fs.err != "" {
			continue
		}
		if _, dup := byKey[fs.rec.PublicKey]; dup {
			fs.err = "another file has the same public key"
			w.log.Warn("Peer file ignored: another file has the same public key", "file", name)
			continue
		}
		byKey[fs.rec.PublicKey] = fs.rec
	}
	if !w.scanned {
		w.scanned = true
		recs := make([]sdk.Record, 0, len(byKey))
		for _, r := range byKey {
			recs = append(recs, r)
		}
		w.set.Replace(recs)
		w.log.Info("Directory scanned", "dir", w.dir, "peers", len(recs))
		return
	}
	for _, k := range w.set.Keys() {
		if _, ok := byKey[k]; !ok {
			w.set.Delete(k)
		}
	}
	for _, r := range byKey {
		w.set.Put(r)
	}
}

// stat looks at one file and reads it if it may have changed. It reports
// whether what the scan knows of the file changed (read again, refused
// anew, gone). w.mu is held.
func (w *Watcher) stat(name string, now time.Time) bool {
	path := filepath.Join(w.dir, name)
	info, err := os.Stat(path)
	if err != nil {
		_, had := w.files[name]
		delete(w.files, name)
		return had
	}
	if !w.Insecure {
		if err := checkOwner(info); err != nil {
			msg := err.Error()
			old := w.files[name]
			if old != nil && old.err == msg {
				return false
			}
			w.log.Warn("Peer file ignored", "file", name, "err", msg)
			w.files[name] = &fileState{err: msg}
			return true
		}
	}
	ino := inode(info)
	old := w.files[name]
	recent := now.Sub(info.ModTime()) <= recheckWindow
	if recent {
		w.hot = true
	}
	if old != nil && old.size == info.Size() && old.mtime.Equal(info.ModTime()) && old.ino == ino && !recent {
		return false
	}
	fs := &fileState{size: info.Size(), mtime: info.ModTime(), ino: ino}
	w.files[name] = fs
	rec, err := readRecordFile(path, name)
	if err != nil {
		fs.err = err.Error()
		if old == nil || old.err != fs.err {
			w.log.Warn("Peer file ignored", "file", name, "err", err)
		}
		return true
	}
	fs.rec = rec
	fs.canonical = name == SelfFileName(rec.PublicKey)
	if old != nil && old.err != "" {
		w.log.Info("Peer file usable again", "file", name)
	}
	return true
}

// canonical reports whether a file's name is the one SelfFileName gives
// for the key it holds. w.mu is held.
func (w *Watcher) canonical(name string) bool {
	fs := w.files[name]
	return fs != nil && fs.err == "" && fs.canonical
}

// checkDir refuses a directory others may write to (unless Insecure),
// logging each new reason once, and returns its stat. w.mu is not held.
func (w *Watcher) checkDir() (os.FileInfo, error) {
	info, err := os.Stat(w.dir)
	if err == nil {
		err = checkDirInfo(w.dir, info)
		if w.Insecure {
			err = nil
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	w.mu.Lock()
	changed := msg != w.dirErr
	w.dirErr = msg
	w.mu.Unlock()
	if changed && err != nil {
		w.log.Error("Not reading the directory; keeping the last view", "err", err)
	}
	return info, err
}

// CheckDir reports whether dir is a directory that only root or this
// process's user can write to.
func CheckDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkDirInfo(dir, st)
}

// checkDirInfo is CheckDir on the stat of dir.
func checkDirInfo(dir string, st os.FileInfo) error {
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if err := checkOwner(st); err != nil {
		return fmt.Errorf("directory %s: %v", dir, err)
	}
	return nil
}

func readRecordFile(path, name string) (sdk.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return sdk.Record{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return sdk.Record{}, err
	}
	return ParseRecordFile(name, data)
}

// Main is the plugin's entry point, shared by the discovery-dir binary and
// the copy embedded in wgplex. args are the command-line arguments after
// the program name.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("discovery-dir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "the shared directory of peer files (required)")
	interval := fs.Duration("interval", DefaultInterval, "time between two scans of the directory")
	insecure := fs.Bool("insecure", false, "use the directory and files even if others may write them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: discovery-dir -dir DIR [-interval 500ms]")
		return 2
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "discovery-dir: %s is not a directory\n", *dir)
		return 1
	}
	if err := CheckDir(*dir); err != nil && !*insecure {
		fmt.Fprintf(stderr, "discovery-dir: %v\n", err)
		return 1
	}
	log := sdk.Logger("discovery-dir")
	w := New(*dir, *interval, log)
	w.Insecure = *insecure
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	sdk.ServeDiscovery(w)
	cancel()
	<-done
	w.Close()
	return 0
}
