// SPDX-License-Identifier: MIT

// Package sdktest is the conformance suite of wgplex plugins. A plugin
// author runs it from their own `go test`, against the implementation in
// the same process or against the built plugin binary, launched the way the
// daemon launches it:
//
//	func TestConformance(t *testing.T) {
//		sdktest.KeyVault(t, newVault(t))          // in process
//	}
//
//	func TestBinary(t *testing.T) {
//		sdktest.KeyVaultBinary(t, "./myvault", "-key", keyFile)
//	}
//
// Each check is a subtest with a message that says what the daemon would
// do with the plugin as it is. The checks are also available one by one
// (KeyVaultChecks, DiscoveryChecks) for tools that want the errors rather
// than a test failure.
package sdktest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// Check is one conformance check: Run returns nil or an error that says
// what is wrong and what the daemon would do about it.
type Check[T any] struct {
	// Name is the subtest name.
	Name string
	// Run performs the check against the plugin under test.
	Run func(ctx context.Context, impl T) error
}

// checkTimeout bounds each check, so that a hung plugin fails the check
// with a message instead of hanging the test binary. A discovery check
// waits for up to a few convergences.
const checkTimeout = 2 * time.Minute

// run runs checks as subtests of t.
func run[T any](t *testing.T, checks []Check[T], impl T) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				// A panic in an in-process implementation becomes this
				// check's failure; in a plugin it would kill the process.
				defer func() {
					if r := recover(); r != nil {
						done <- fmt.Errorf("the implementation panicked: %v (a plugin would crash and be restarted)", r)
					}
				}()
				done <- c.Run(ctx, impl)
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(checkTimeout + 5*time.Second):
				t.Fatalf("no result after %v: a call into the plugin does not return, even past its context's deadline", checkTimeout)
			}
		})
	}
}

// testLog is a logger for a launched plugin that shows the log only when
// the test failed: the daemon side logs from goroutines that may outlive
// the test, which t.Log does not allow.
func testLog(t *testing.T) *slog.Logger {
	b := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("plugin host log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Bounded: a chatty plugin must not grow a test's memory without end.
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
