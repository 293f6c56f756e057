// Package testtool finds the programs tests drive beside the service (curl,
// the AWS CLI, strace), waits for conditions, captures log lines and marks
// the tests -short skips. `make test` installs them and sets REQUIRE_TOOLS, so
// a test that needs one fails there rather than skipping; a plain `go test`
// skips it when the program is missing.
package testtool

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Find returns the first of paths that exists (a pinned install, such as
// the AWS CLI in .cache/clients) or, when no paths are given, name on PATH.
// Without it the test is skipped, or fails under REQUIRE_TOOLS.
func Find(t testing.TB, name string, paths ...string) string {
	t.Helper()
	Slow(t, name)
	for _, p := range paths {
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	if p, err := exec.LookPath(name); err == nil && len(paths) == 0 {
		return p
	}
	if os.Getenv("REQUIRE_TOOLS") != "" {
		t.Fatalf("%s is not installed but REQUIRE_TOOLS is set (make test installs it)", name)
	}
	t.Skipf("%s is not installed; make test installs it", name)
	return ""
}

// Slow skips t under `go test -short`: what needs DynamoDB Local, a
// compiled binary or a client outside Go. `make test` never passes -short,
// so there every test runs; -short is the developer's quick loop over the
// packages' own logic.
func Slow(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: needs %s", what)
	}
}

// WaitFor polls cond until it holds, failing the test after limit: the
// limit is a failure's deadline, never a wait a passing test sits out.
func WaitFor(t testing.TB, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Logs captures a logger's JSON lines (slog.NewJSONHandler(logs, ...)).
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Lines returns the captured lines with message msg at level (e.g. "INFO").
func (l *Logs) Lines(level, msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for raw := range strings.SplitSeq(l.buf.String(), "\n") {
		var line map[string]any
		if json.Unmarshal([]byte(raw), &line) == nil && line["level"] == level && line["msg"] == msg {
			out = append(out, line)
		}
	}
	return out
}
