// Package gctune sets the Go garbage collector of a calldex process for
// what it runs and where, unless its environment does (GOGC, GOMEMLIMIT).
//
// A replica whose index is in Redis keeps a small live heap (tenants,
// caches: tens of MB) while each lookup allocates a few kilobytes, so with
// Go's default GOGC=100 it collects several times a second under load
// (httpload -against . -targets redis -env GOGC=100 -env-b GOGC=400, five
// runs: a median 4 % less server CPU per lookup, 2 % more lookups/s; with
// CONTACTS of a million contacts in the embedded NATS server, whose
// structures every collection marks, a p99 at saturation of 4.4–6.7 ms
// instead of 13–20 in two pairs of runs). A larger GOGC lets the heap grow
// further between collections: inside a container's memory limit it is
// SmallHeapPercent, with the runtime's memory limit just below the
// container's, where the collector runs as often as it must; outside one,
// nothing bounds the heap, so GOGC follows the live heap to let it grow by
// at most Headroom between collections.
package gctune

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"
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

// Headroom is how far a small heap outside a container may grow beyond its
// live data between two collections: GOGC=SmallHeapPercent while the live
// heap is at most a quarter of it, less above, never below Go's 100.
const Headroom = 256 << 20

// Settings are what Apply changes; a zero field is left as it is.
type Settings struct {
	GCPercent   int
	MemoryLimit int64 // bytes
	// Headroom, when set, makes GOGC follow the live heap (HeadroomPercent).
	Headroom int64 // bytes
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
	if s.Headroom != 0 {
		parts = append(parts, "GOGC 100-"+strconv.Itoa(SmallHeapPercent)+" for "+strconv.FormatInt(s.Headroom>>20, 10)+"MiB of headroom")
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
// 510 MiB at 400), so a process with smallHeap gets Headroom instead.
func Choose(lookupEnv func(string) (string, bool), smallHeap bool, limit func() (int64, bool)) Settings {
	n, ok := limit()
	if !ok {
		if _, set := lookupEnv("GOGC"); !set && smallHeap {
			return Settings{Headroom: Headroom}
		}
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

// Apply sets s in the runtime; with a Headroom, it sets GOGC at once and
// then every second from the live heap, until ctx ends.
func Apply(ctx context.Context, s Settings) {
	if s.GCPercent != 0 {
		debug.SetGCPercent(s.GCPercent)
	}
	if s.MemoryLimit != 0 {
		debug.SetMemoryLimit(s.MemoryLimit)
	}
	if s.Headroom != 0 {
		follow := func() { debug.SetGCPercent(HeadroomPercent(liveHeap(), s.Headroom)) }
		follow()
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					follow()
				}
			}
		}()
	}
}

// HeadroomPercent is the GOGC that lets a heap of live bytes grow by
// headroom before the next collection, from 100 to SmallHeapPercent.
func HeadroomPercent(live uint64, headroom int64) int {
	if live == 0 {
		return SmallHeapPercent
	}
	return int(min(max(100*uint64(headroom)/live, 100), SmallHeapPercent))
}

// liveHeap is the heap the last collection found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
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
