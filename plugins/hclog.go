// SPDX-License-Identifier: MIT

package plugins

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogLevels maps hclog's levels onto slog's. hclog has one level below
// Debug (Trace), which becomes slog.LevelDebug-4.
var slogLevels = map[hclog.Level]slog.Level{
	hclog.Trace: slog.LevelDebug - 4,
	hclog.Debug: slog.LevelDebug,
	hclog.Info:  slog.LevelInfo,
	hclog.Warn:  slog.LevelWarn,
	hclog.Error: slog.LevelError,
}

// hclogAdapter is an hclog.Logger that writes to a slog.Logger. go-plugin
// logs through hclog, both its own messages and every line a plugin writes
// to stderr (parsed from JSON when the plugin used sdk.Logger); this puts
// them all in the daemon's log with the plugin's tags.
type hclogAdapter struct {
	log     *slog.Logger
	name    string
	implied []any
}

var _ hclog.Logger = (*hclogAdapter)(nil)

func newHCLogAdapter(l *slog.Logger) hclog.Logger { return &hclogAdapter{log: l} }

func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lvl, ok := slogLevels[level]
	if !ok {
		lvl = slog.LevelInfo
	}
	ctx := context.Background()
	if !a.log.Enabled(ctx, lvl) {
		return
	}
	attrs := make([]any, 0, len(a.implied)+len(args)+2)
	if a.name != "" {
		attrs = append(attrs, "logger", a.name)
	}
	attrs = append(attrs, a.implied...)
	attrs = append(attrs, fixArgs(args)...)
	a.log.Log(ctx, lvl, msg, renameReserved(attrs, a.name == "")...)
}

// renameReserved keeps the daemon's own tags (plugin=NAME kind=KIND, on
// the logger already) from appearing twice in a line, which is ambiguous
// in every log format. go-plugin's own lines (no logger name) say
// plugin=<path>, which becomes path=; a plugin's fields of those names
// get a "field_" prefix.
func renameReserved(attrs []any, own bool) []any {
	for i := 0; i+1 < len(attrs); i += 2 {
		switch attrs[i] {
		case "plugin":
			if own {
				attrs[i] = "path"
			} else {
				attrs[i] = "field_plugin"
			}
		case "kind":
			attrs[i] = "field_kind"
		}
	}
	return attrs
}

// fixArgs keeps slog from printing !BADKEY: hclog tolerates an odd
// argument list and non-string keys, slog does not.
func fixArgs(args []any) []any {
	if len(args)%2 == 1 {
		args = append(args[:len(args):len(args)], "<missing>")
	}
	out := args[:0:0]
	for i := 0; i < len(args); i += 2 {
		k, ok := args[i].(string)
		if !ok {
			k = fmt.Sprint(args[i])
		}
		if k == "timestamp" {
			// A relayed plugin line carries its own time; the daemon's
			// record has one already.
			continue
		}
		out = append(out, k, args[i+1])
	}
	return out
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) enabled(l hclog.Level) bool {
	return a.log.Enabled(context.Background(), slogLevels[l])
}

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

func (a *hclogAdapter) ImpliedArgs() []any { return a.implied }

func (a *hclogAdapter) With(args ...any) hclog.Logger {
	b := *a
	b.implied = append(a.implied[:len(a.implied):len(a.implied)], fixArgs(args)...)
	return &b
}

func (a *hclogAdapter) Name() string { return a.name }

func (a *hclogAdapter) Named(name string) hclog.Logger {
	b := *a
	if b.name != "" {
		b.name += "." + name
	} else {
		b.name = name
	}
	return &b
}

func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	b := *a
	b.name = name
	return &b
}

// SetLevel is ignored: the level is the daemon's (LOG_LEVEL), set on the
// slog handler.
func (a *hclogAdapter) SetLevel(hclog.Level) {}

// GetLevel reports the most verbose level the slog handler lets through;
// go-plugin skips parsing plugin output that would be dropped anyway.
func (a *hclogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *hclogAdapter) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		a.Info(strings.TrimRight(string(p), "\n"))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
