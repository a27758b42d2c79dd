// SPDX-License-Identifier: MIT

package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// rateLimitedLogger wraps the injected logger for messages a packet can
// trigger: each message text may be logged at most burst times per second,
// so a flood of bad packets cannot turn into a flood of log lines.
type rateLimitedLogger struct {
	log   *slog.Logger
	clock Clock
	mu    sync.Mutex
	seen  map[string]*logBucket
}

type logBucket struct {
	window time.Time
	count  int
}

const logBurstPerSecond = 10

func newRateLimitedLogger(log *slog.Logger, clock Clock) *rateLimitedLogger {
	return &rateLimitedLogger{log: log, clock: clock, seen: make(map[string]*logBucket)}
}

// debugf logs a formatted message at debug level unless messages of that
// format already hit their limit this second. The format (a constant at
// every call site) is the key, so the map stays small however many peers
// or sources there are; the text is only formatted when it is logged.
func (l *rateLimitedLogger) debugf(format string, args ...any) {
	if l.allow(format) {
		l.log.Debug(fmt.Sprintf(format, args...))
	}
}

// debug logs msg with slog attributes, rate-limited by msg.
func (l *rateLimitedLogger) debug(msg string, args ...any) {
	if l.allow(msg) {
		l.log.Debug(msg, args...)
	}
}

func (l *rateLimitedLogger) allow(msg string) bool {
	if !l.log.Enabled(context.Background(), slog.LevelDebug) {
		return false
	}
	now := l.clock.Now()
	l.mu.Lock()
	b := l.seen[msg]
	if b == nil {
		b = &logBucket{}
		l.seen[msg] = b
	}
	if now.Sub(b.window) >= time.Second {
		b.window, b.count = now, 0
	}
	b.count++
	ok := b.count <= logBurstPerSecond
	l.mu.Unlock()
	return ok
}
