package jsonlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The handler's lines are what slog.JSONHandler writes, member for member.
func TestSameLinesAsSlog(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 30, 1, 123456789, time.UTC)
	type log func(l *slog.Logger)
	for name, fn := range map[string]log{
		"kinds": func(l *slog.Logger) {
			l.Info("request", "requestId", "r-1", "status", 200, "latencyMs", 0.125, "ok", true, "n", uint64(7),
				"took", 1500*time.Millisecond, "at", at, "err", errors.New("boom \"quoted\""))
		},
		"escapes": func(l *slog.Logger) {
			l.Warn("tab\tnewline\nquote\"backslash\\ctrl\x01 bad\xff utf8 ü \u2028", "key with \"quote\"", "<>&")
		},
		"groups": func(l *slog.Logger) {
			l.LogAttrs(context.Background(), slog.LevelWarn, "deletion call refused",
				slog.Group("userIdentity", slog.String("tenant", "dev-c"), slog.Group("inner", slog.Int("x", 1))),
				slog.Group("empty"), slog.Group("", slog.String("inlined", "yes")),
				slog.Any("metrics", []map[string]any{{"Namespace": "KeyDeletion", "Dimensions": [][]string{{"Operation"}}}}))
		},
		"with": func(l *slog.Logger) {
			l.With("component", "store").WithGroup("g").With("a", 1).Error("failed", "b", 2)
		},
	} {
		var got, want bytes.Buffer
		fn(slog.New(New(&got, Options{Level: slog.LevelDebug})))
		fn(slog.New(slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug})))
		g, w := decode(t, got.String()), decode(t, want.String())
		delete(g, "time")
		delete(w, "time")
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %s\nwant %s", name, got.String(), want.String())
		}
	}
}

// NaN and infinities, which slog.JSONHandler writes as "!ERROR:..."
// strings, are written as strings naming them: the line stays JSON.
func TestSpecialFloats(t *testing.T) {
	var out bytes.Buffer
	slog.New(New(&out, Options{})).Info("f", "nan", math.NaN(), "inf", math.Inf(-1))
	if m := decode(t, out.String()); m["nan"] != "NaN" || m["inf"] != "-Inf" {
		t.Fatalf("%s", out.String())
	}
}

func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("not JSON: %q: %v", line, err)
	}
	return m
}

// lockedBuffer records writes.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Buffered request lines come out within the interval, before any other
// line, in order; other lines are written at once.
func TestBufferedRequestLines(t *testing.T) {
	var out lockedBuffer
	h := New(&out, Options{Buffer: time.Hour})
	l := slog.New(h)
	l.Info("request", "n", 1)
	l.Info("request", "n", 2)
	if out.String() != "" {
		t.Fatalf("request lines written before their time: %q", out.String())
	}
	l.Info("key deleted", "key", "k")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"n":1`) || !strings.Contains(lines[2], "key deleted") {
		t.Fatalf("order: %q", lines)
	}
	l.Info("request", "n", 3)
	h2 := New(&out, Options{Buffer: 10 * time.Millisecond})
	slog.New(h2).Info("request", "n", 4)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), `"n":4`) {
		if time.Now().After(deadline) {
			t.Fatal("a buffered line was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.Flush()
	if !strings.Contains(out.String(), `"n":3`) {
		t.Fatal("Flush did not write the buffered line")
	}
}
