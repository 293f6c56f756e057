package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryFiles are where a container's memory limit is read: cgroup v2,
// then v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// containerMemoryLimit is the memory limit of the cgroup the server runs in,
// in bytes; ok is false when there is none ("max", or v1's near-2^63 for
// none).
func containerMemoryLimit(files []string) (limit int64, ok bool) {
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err != nil || v <= 0 || v >= 1<<62 {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// applyMemoryLimit gives the Go runtime a soft memory limit of three
// quarters of the container's when GOMEMLIMIT sets none (the runtime reads
// GOMEMLIMIT itself), so that the collector works harder as the server
// nears the limit instead of the kernel ending it; the rest is the
// program's code, the store's cache and memtables, and the kernel's. It
// returns the limit set (0: none).
func applyMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit, ok := containerMemoryLimit(cgroupMemoryFiles)
	if !ok {
		return 0
	}
	soft := softLimit(limit)
	debug.SetMemoryLimit(soft)
	return soft
}

// softLimit is the Go runtime's share of a container's memory limit.
func softLimit(container int64) int64 { return container / 4 * 3 }
