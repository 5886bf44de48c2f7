// Package gctune sets the Go garbage collector of a calldex process for
// what it runs and where, unless its environment does (GOGC, GOMEMLIMIT).
//
// A replica whose index is in Redis keeps a small live heap (tenants,
// caches: tens of MB) while each lookup allocates a few kilobytes, so with
// Go's default GOGC=100 it collects several times a second under load
// (httpload -against . -targets redis -env GOGC=100 -env-b GOGC=400, five
// runs: a median 4 % less server CPU per lookup, 2 % more lookups/s). A
// larger GOGC lets the heap grow further between collections, so it is
// chosen only inside a container's memory limit, with the runtime's memory
// limit just below it: there the collector runs as often as it must.
package gctune

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// SmallHeapPercent is the GOGC of a process whose index is not in its own
// heap. The in-process index keeps GOGC=100: its live heap is the index
// itself (~0.5 GB per million contacts), which a larger GOGC would
// multiply, for a gain of ~3 %.
const SmallHeapPercent = 400

// LimitShare is the part of the container's memory limit the runtime is
// asked to stay under (GOMEMLIMIT): the rest is headroom for what the
// runtime does not count but the container is charged for (the page cache
// of the data directory, for one) before the kernel's OOM killer.
const LimitShare = 0.9

// Settings are what Apply changes; a zero field is left as it is.
type Settings struct {
	GCPercent   int
	MemoryLimit int64 // bytes
}

// String is for the start-up log.
func (s Settings) String() string {
	var parts []string
	if s.GCPercent != 0 {
		parts = append(parts, "GOGC="+strconv.Itoa(s.GCPercent))
	}
	if s.MemoryLimit != 0 {
		parts = append(parts, "GOMEMLIMIT="+strconv.FormatInt(s.MemoryLimit>>20, 10)+"MiB")
	}
	if parts == nil {
		return "runtime defaults"
	}
	return strings.Join(parts, " ")
}

// Choose decides the settings for a process in a container with a memory
// limit (limit reports it, if any: CgroupLimit): a memory limit of
// LimitShare of the container's, and GOGC=SmallHeapPercent for a process
// with smallHeap, each unless the environment sets it. Without a
// container's limit nothing bounds the larger heap GOGC lets grow (a
// server that imported a million contacts through the admin API held
// 510 MiB at 400), so the runtime's defaults stay.
func Choose(lookupEnv func(string) (string, bool), smallHeap bool, limit func() (int64, bool)) Settings {
	n, ok := limit()
	if !ok {
		return Settings{}
	}
	var s Settings
	if _, set := lookupEnv("GOMEMLIMIT"); !set {
		s.MemoryLimit = int64(float64(n) * LimitShare)
	}
	if _, set := lookupEnv("GOGC"); !set && smallHeap {
		s.GCPercent = SmallHeapPercent
	}
	return s
}

// Apply sets s in the runtime.
func Apply(s Settings) {
	if s.GCPercent != 0 {
		debug.SetGCPercent(s.GCPercent)
	}
	if s.MemoryLimit != 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
}

// CgroupLimit is the memory limit of the process's cgroup, read under root
// ("/sys/fs/cgroup" on Linux); false when there is none. It tries the
// process's own cgroup (from /proc/self/cgroup), then the hierarchy's root,
// which is the container's own cgroup in a container with a cgroup
// namespace: cgroup v2 first, then v1's memory controller.
func CgroupLimit(root string) func() (int64, bool) {
	return func() (int64, bool) {
		v2, v1 := ownCgroups()
		for _, path := range []string{
			filepath.Join(root, v2, "memory.max"),
			filepath.Join(root, "memory.max"),
			filepath.Join(root, "memory", v1, "memory.limit_in_bytes"),
			filepath.Join(root, "memory", "memory.limit_in_bytes"),
		} {
			if n, ok := readLimit(path); ok {
				return n, true
			}
		}
		return 0, false
	}
}

// ownCgroups are the process's cgroup v2 path ("0::/path") and its v1
// memory controller's path ("4:memory:/path"), "" where it has none.
func ownCgroups() (v2, v1 string) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		_, rest, _ := strings.Cut(line, ":")
		ctrl, path, ok := strings.Cut(rest, ":")
		switch {
		case !ok:
		case ctrl == "":
			v2 = path
		case slices.Contains(strings.Split(ctrl, ","), "memory"):
			v1 = path
		}
	}
	return v2, v1
}

// readLimit reads a cgroup memory limit file: a byte count, or "max" (v2)
// or a huge number (v1, the page-rounded maximum) for none.
func readLimit(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
