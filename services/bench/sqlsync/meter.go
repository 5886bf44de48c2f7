package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// meter measures the CPU time processes used between start and stop, by
// process name (Linux /proc): this process (syncer, projector, writer and
// lookups), the database, NATS and Redis.
type meter struct {
	start map[string]time.Duration
}

func startMeter() *meter { return &meter{start: processCPU()} }

// stop names the processes that used at least 1% of the time, most first.
func (m *meter) stop() string {
	end := processCPU()
	if len(end) == 0 {
		return "not measured (no /proc)"
	}
	type use struct {
		name string
		d    time.Duration
	}
	var uses []use
	var total time.Duration
	for name, d := range end {
		d -= m.start[name]
		total += d
		uses = append(uses, use{name, d})
	}
	slices.SortFunc(uses, func(a, b use) int { return int(b.d - a.d) })
	var parts []string
	for _, u := range uses {
		if u.d > 0 && u.d*100 >= total {
			parts = append(parts, fmt.Sprintf("%s %s", u.name, u.d.Round(10*time.Millisecond)))
		}
	}
	return strings.Join(parts, ", ")
}

// processCPU sums user and system time by process name; this process is
// "sqlsync". Processes that ended meanwhile are lost, which the servers
// measured here do not do.
func processCPU() map[string]time.Duration {
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	out := map[string]time.Duration{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	self := strconv.Itoa(os.Getpid())
	for _, f := range stats {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(raw)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		name := s[open+1 : close]
		switch pid := filepath.Base(filepath.Dir(f)); {
		case pid == self:
			name = "sqlsync"
		case name == "redis-server":
			// Its title names the address: tell two servers apart.
			if cmd, err := os.ReadFile("/proc/" + pid + "/cmdline"); err == nil {
				name = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
			}
		}
		fields := strings.Fields(s[close+1:])
		if len(fields) < 13 {
			continue
		}
		// After the name: state is field 3 of stat, utime 14 and stime 15.
		user, _ := strconv.ParseInt(fields[11], 10, 64)
		sys, _ := strconv.ParseInt(fields[12], 10, 64)
		out[name] += time.Duration(user+sys) * tick
	}
	return out
}
