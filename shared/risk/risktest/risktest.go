// Package risktest is the conformance suite of risk.Store: every
// implementation runs it (risk.Memory, risk.Redis).
package risktest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/shared/risk"
)

// NewStore returns an empty store with window w for one test.
type NewStore func(t *testing.T, w risk.Window) risk.Store

// Run runs the suite against stores made by newStore.
func Run(t *testing.T, newStore NewStore) {
	// Mid-bucket, so that a few minutes on stay in the same bucket.
	start := time.Date(2026, 1, 5, 10, 1, 0, 0, time.UTC)
	// clock is the store's clock, moved on by the test (atomic: the
	// concurrent subtest reads it from several goroutines).
	type clock struct{ ns atomic.Int64 }
	now := func(c *clock) time.Time { return time.Unix(0, c.ns.Load()).UTC() }
	setup := func(t *testing.T) (risk.Store, *clock) {
		clk := &clock{}
		clk.ns.Store(start.UnixNano())
		return newStore(t, risk.Window{Length: time.Hour, Bucket: 5 * time.Minute, Now: func() time.Time { return now(clk) }}), clk
	}
	record := func(t *testing.T, s risk.Store, obs ...risk.Observation) {
		t.Helper()
		if err := s.Record(t.Context(), obs); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	stats := func(t *testing.T, s risk.Store, n string) risk.Stats {
		t.Helper()
		st, err := s.Stats(t.Context(), n)
		if err != nil {
			t.Fatalf("Stats(%s): %v", n, err)
		}
		return st
	}
	const robo, good = "+41445550100", "+41215522000"

	t.Run("counts every kind across tenants and buckets", func(t *testing.T) {
		s, clk := setup(t)
		at := now(clk)
		record(t, s,
			risk.Observation{Number: robo, Tenant: "a", At: at, Call: true, AfterHours: true},
			risk.Observation{Number: robo, Tenant: "b", At: at, Call: true},
			risk.Observation{Number: robo, Tenant: "b", At: at, Finished: true, Short: true},
			risk.Observation{Number: robo, Tenant: "c", At: at.Add(-20 * time.Minute), Finished: true, Answered: true},
			risk.Observation{Number: good, Tenant: "a", At: at, Call: true},
		)
		record(t, s, risk.Observation{Number: robo, Tenant: "a", At: at.Add(-40 * time.Minute), Call: true})
		want := risk.Stats{Tenants: 3, Calls: 3, AfterHours: 1, Finished: 2, Answered: 1, Short: 1}
		if got := stats(t, s, robo); got != want {
			t.Errorf("Stats = %+v, want %+v", got, want)
		}
		if got := stats(t, s, good); got != (risk.Stats{Tenants: 1, Calls: 1}) {
			t.Errorf("other number: %+v", got)
		}
		if got := stats(t, s, "+41790000000"); got != (risk.Stats{}) {
			t.Errorf("unknown number: %+v", got)
		}
	})

	t.Run("forgets a number, and only it", func(t *testing.T) {
		s, clk := setup(t)
		at := now(clk)
		record(t, s,
			risk.Observation{Number: robo, Tenant: "a", At: at, Call: true},
			risk.Observation{Number: robo, Tenant: "b", At: at.Add(-30 * time.Minute), Finished: true},
			risk.Observation{Number: good, Tenant: "a", At: at, Call: true},
		)
		for i, want := range []bool{true, false} {
			had, err := s.Forget(t.Context(), robo)
			if err != nil || had != want {
				t.Fatalf("Forget #%d = %v, %v; want %v", i+1, had, err, want)
			}
		}
		if got := stats(t, s, robo); got != (risk.Stats{}) {
			t.Errorf("forgotten number: %+v", got)
		}
		top, err := s.Top(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 1 || top[0].Number != good {
			t.Errorf("Top after Forget = %+v, want only %s", top, good)
		}
		// Counted again from scratch when it calls again.
		record(t, s, risk.Observation{Number: robo, Tenant: "c", At: at, Call: true})
		if got := stats(t, s, robo); got != (risk.Stats{Tenants: 1, Calls: 1}) {
			t.Errorf("after a new call: %+v", got)
		}
	})

	t.Run("counts expire with the window", func(t *testing.T) {
		s, clk := setup(t)
		at := now(clk)
		record(t, s,
			risk.Observation{Number: robo, Tenant: "a", At: at.Add(-50 * time.Minute), Call: true},
			risk.Observation{Number: robo, Tenant: "b", At: at, Call: true},
			// Older than the window when recorded: ignored.
			risk.Observation{Number: robo, Tenant: "c", At: at.Add(-2 * time.Hour), Call: true},
		)
		if got := stats(t, s, robo); got.Calls != 2 || got.Tenants != 2 {
			t.Fatalf("now: %+v, want 2 calls from 2 tenants", got)
		}
		clk.ns.Add(int64(15 * time.Minute))
		if got := stats(t, s, robo); got.Calls != 1 || got.Tenants != 1 {
			t.Errorf("15 min on: %+v, want the older call gone", got)
		}
		clk.ns.Add(int64(time.Hour))
		if got := stats(t, s, robo); got != (risk.Stats{}) {
			t.Errorf("an hour on: %+v, want nothing", got)
		}
		top, err := s.Top(t.Context(), 10)
		if err != nil || len(top) != 0 {
			t.Errorf("Top an hour on = %v, %v; want none", top, err)
		}
	})

	t.Run("distinct tenants count once", func(t *testing.T) {
		s, clk := setup(t)
		var obs []risk.Observation
		for i := range 30 {
			obs = append(obs, risk.Observation{Number: robo, Tenant: []string{"a", "b", "c"}[i%3], At: now(clk).Add(-time.Duration(i) * time.Minute), Call: true})
		}
		record(t, s, obs...)
		if got := stats(t, s, robo); got.Tenants != 3 || got.Calls != 30 {
			t.Errorf("Stats = %+v, want 3 tenants, 30 calls", got)
		}
	})

	t.Run("top lists the busiest first", func(t *testing.T) {
		s, clk := setup(t)
		var obs []risk.Observation
		for i, n := range []string{"+41440000001", "+41440000002", "+41440000003"} {
			for range (i + 1) * 2 {
				obs = append(obs, risk.Observation{Number: n, Tenant: "t" + n[len(n)-1:], At: now(clk), Call: true})
			}
		}
		record(t, s, obs...)
		top, err := s.Top(t.Context(), 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(top) != 2 || top[0].Number != "+41440000003" || top[0].Calls != 6 || top[1].Number != "+41440000002" || top[1].Tenants != 1 {
			t.Errorf("Top(2) = %+v", top)
		}
	})

	t.Run("concurrent records all count", func(t *testing.T) {
		s, clk := setup(t)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for range 25 {
					if err := s.Record(context.Background(), []risk.Observation{{Number: robo, Tenant: string(rune('a' + w)), At: now(clk), Call: true}}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if got := stats(t, s, robo); got.Calls != 100 || got.Tenants != 4 {
			t.Errorf("Stats = %+v, want 100 calls from 4 tenants", got)
		}
	})
}
