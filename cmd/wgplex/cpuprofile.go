// SPDX-License-Identifier: MIT

package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// cpuProfilePart writes a Go CPU profile of the daemon, from before the
// first part starts until the last one stops, to the file given by
// --cpu-profile (WGPLEX_CPU_PROFILE). It is for finding which stage of
// the data path costs what on a given machine: core labels its
// long-lived goroutines with the stage they run (core.StageLabel), so
// `go tool pprof -tags FILE` splits the CPU time by stage, and
// bench/stages.sh turns that into cores busy per stage. Off by default;
// profiling costs a few per cent of CPU while it runs.
type cpuProfilePart struct {
	path *string
}

func (*cpuProfilePart) Name() string { return "cpu-profile" }

func (p *cpuProfilePart) Flags(fs *daemonFlagSet) {
	p.path = fs.String("cpu-profile", "WGPLEX_CPU_PROFILE",
		"write a Go CPU profile of the daemon's whole run to this new file (it must not exist); goroutines are labelled by data-path stage; off by default")
}

func (p *cpuProfilePart) Start(env *daemonEnv) (func(), error) {
	if p.path == nil || *p.path == "" {
		return nil, nil
	}
	// O_EXCL: the daemon often runs as root, and a file name in a shared
	// directory must not let anyone else choose (by a link planted there)
	// which file gets overwritten.
	f, err := os.OpenFile(*p.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	w := &firstErrWriter{w: f}
	if err := pprof.StartCPUProfile(w); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("%s: %v", f.Name(), err)
	}
	return func() {
		pprof.StopCPUProfile()
		err := w.err
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			env.Log.Error("Failed to write the CPU profile", "path", f.Name(), "err", err)
		}
	}, nil
}

// firstErrWriter keeps the first write error, which runtime/pprof's
// profile writer drops: a full disk would otherwise leave a truncated
// profile without a word. Only the profiler's goroutine writes, and err
// is read after StopCPUProfile has returned, when it has finished.
type firstErrWriter struct {
	w   io.Writer
	err error
}

func (e *firstErrWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
