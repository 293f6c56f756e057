package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The container's memory limit is read from cgroup v2's memory.max, or v1's
// limit_in_bytes; "max", v1's value for none, and no file at all are no
// limit.
func TestContainerMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	for _, c := range []struct {
		name  string
		files []string
		limit int64
		ok    bool
	}{
		{"v2 limit", []string{write("v2", "536870912\n")}, 536870912, true},
		{"v2 none", []string{write("v2max", "max\n")}, 0, false},
		{"v1 limit, no v2", []string{missing, write("v1", "268435456\n")}, 268435456, true},
		{"v1 none", []string{missing, write("v1none", "9223372036854771712\n")}, 0, false},
		{"no cgroup files", []string{missing}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			limit, ok := containerMemoryLimit(c.files)
			if limit != c.limit || ok != c.ok {
				t.Fatalf("got %d, %v; want %d, %v", limit, ok, c.limit, c.ok)
			}
		})
	}
	if got := softLimit(512 << 20); got != 384<<20 {
		t.Fatalf("soft limit of 512 MiB: %d MiB, want 384", got>>20)
	}
}
