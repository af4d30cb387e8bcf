// Package memlimit sets the Go runtime's soft memory limit from the container's memory limit,
// so that the garbage collector works harder as the process nears the limit instead of letting
// the heap grow to twice its live size (GOGC) and the kernel kill the container. An explicit
// GOMEMLIMIT wins.
package memlimit

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// The files that hold a cgroup's memory limit: cgroup v2, then v1.
var limitFiles = []string{"sys/fs/cgroup/memory.max", "sys/fs/cgroup/memory/memory.limit_in_bytes"}

// noLimit is what cgroup v1 reports for an unlimited cgroup (a page-rounded MaxInt64); any
// value this large means none.
const noLimit = 1 << 60

// ContainerLimit reads the memory limit of the cgroup the process runs in, under root ("/" in
// a container). ok is false when there is none.
func ContainerLimit(root string) (limit int64, ok bool) {
	for _, f := range limitFiles {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(data))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= noLimit {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// DefaultRatio is the manager's default --memory-limit-ratio.
const DefaultRatio = 0.9

// Reserve is the least of a container's limit the soft limit leaves to what the Go runtime does
// not count: the binary's mapped pages (about 40 MiB of the manager's resident memory) and the
// kernel's share.
const Reserve = 48 << 20

// Soft is the soft limit for a container limit: ratio of it, and at least Reserve below it
// (but never below half of it).
func Soft(limit int64, ratio float64) int64 {
	soft := min(int64(math.Floor(float64(limit)*ratio)), limit-Reserve)
	return max(soft, limit/2)
}

// Set applies ratio of the container's limit as the runtime's soft memory limit, unless
// GOMEMLIMIT is set or ratio is 0, and returns the limit it set (0 for none).
func Set(ratio float64) int64 {
	if ratio <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	limit, ok := ContainerLimit("/")
	if !ok {
		return 0
	}
	soft := Soft(limit, ratio)
	debug.SetMemoryLimit(soft)
	return soft
}
