package gctune_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/calldex/calldex/services/internal/gctune"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func limit(n int64) func() (int64, bool) { return func() (int64, bool) { return n, n > 0 } }

// The limits are 90 % of the container's: 256 MiB → 241,591,910 bytes.
func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		name      string
		env       map[string]string
		smallHeap bool
		limit     int64
		want      gctune.Settings
	}{
		{"Redis index, no container: GOGC follows the live heap", nil, true, 0, gctune.Settings{Headroom: gctune.Headroom}},
		{"Redis index, no container, the operator's GOGC", map[string]string{"GOGC": "100"}, true, 0, gctune.Settings{}},
		{"in-process index, no container", nil, false, 0, gctune.Settings{}},
		{"Redis index in a 256 MiB container", nil, true, 256 << 20,
			gctune.Settings{GCPercent: gctune.SmallHeapPercent, MemoryLimit: 241_591_910}},
		{"in-process index in a container", nil, false, 1 << 30, gctune.Settings{MemoryLimit: 966_367_641}},
		{"the operator's GOGC wins", map[string]string{"GOGC": "150"}, true, 256 << 20,
			gctune.Settings{MemoryLimit: 241_591_910}},
		{"the operator's GOMEMLIMIT wins", map[string]string{"GOMEMLIMIT": "200MiB"}, true, 256 << 20,
			gctune.Settings{GCPercent: gctune.SmallHeapPercent}},
		{"GOGC=off is the operator's too", map[string]string{"GOGC": "off", "GOMEMLIMIT": ""}, true, 256 << 20, gctune.Settings{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gctune.Choose(env(tc.env), tc.smallHeap, limit(tc.limit)); got != tc.want {
				t.Errorf("Choose = %+v (%s), want %+v", got, got, tc.want)
			}
		})
	}
}

func TestCgroupLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"cgroup v2", map[string]string{"memory.max": "268435456\n"}, 256 << 20},
		{"cgroup v2 without a limit", map[string]string{"memory.max": "max\n"}, 0},
		{"cgroup v1", map[string]string{"memory/memory.limit_in_bytes": "536870912\n"}, 512 << 20},
		{"cgroup v1 without a limit", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0},
		{"no cgroup files", nil, 0},
		{"garbage", map[string]string{"memory.max": "lots\n"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, text := range tc.files {
				path := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			n, ok := gctune.CgroupLimit(root)()
			if n != tc.want || ok != (tc.want > 0) {
				t.Errorf("CgroupLimit = %d, %v; want %d", n, ok, tc.want)
			}
		})
	}
}

func TestHeadroomPercent(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, gctune.SmallHeapPercent},
		{10 << 20, gctune.SmallHeapPercent},
		{64 << 20, 400},
		{128 << 20, 200},
		{200 << 20, 128},
		{256 << 20, 100},
		{2 << 30, 100},
	} {
		if got := gctune.HeadroomPercent(tc.live, 256<<20); got != tc.want {
			t.Errorf("HeadroomPercent(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// TestApplyHeadroom: with a headroom, Apply sets GOGC from this test
// process's live heap (a few MiB: the largest GOGC), until ctx ends.
func TestApplyHeadroom(t *testing.T) {
	was := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(was) })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	runtime.GC()
	gctune.Apply(ctx, gctune.Settings{Headroom: 1 << 30})
	if got := debug.SetGCPercent(100); got != gctune.SmallHeapPercent {
		t.Fatalf("GOGC after Apply = %d, want %d", got, gctune.SmallHeapPercent)
	}
}

func TestSettingsString(t *testing.T) {
	if got := (gctune.Settings{}).String(); got != "runtime defaults" {
		t.Errorf("zero: %q", got)
	}
	if got := (gctune.Settings{GCPercent: 400, MemoryLimit: 230 << 20}).String(); got != "GOGC=400 GOMEMLIMIT=230MiB" {
		t.Errorf("both: %q", got)
	}
	if got := (gctune.Settings{Headroom: gctune.Headroom}).String(); got != "GOGC 100-400 for 256MiB of headroom" {
		t.Errorf("headroom: %q", got)
	}
}
