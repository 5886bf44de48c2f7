package projector_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/natstest"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/redisx"
)

// ownRedis starts a redis-server for the test and returns a client of it
// as Calldex opens one.
func ownRedis(t *testing.T) (*redistest.Server, redis.UniversalClient) {
	t.Helper()
	srv := redistest.StartServer(t)
	return srv, openRedis(t, srv.URL())
}

func openRedis(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	rdb, _, err := redisx.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// runProjector runs a projector with the default configuration until the
// returned stop is called or the test ends.
func runProjector(t *testing.T, env *natstest.Env, rdb redis.UniversalClient) func() {
	t.Helper()
	cp := projector.NewRedis(rdb, "cdx", env.Topology.Stream(events.StreamContacts))
	p, err := projector.New(projector.Config{Topology: env.Topology}, env.JS, index.NewRedis(rdb, "cdx"), chTenants{}, cp, quiet)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, p)
}

func publishContacts(t *testing.T, env *natstest.Env, from, n int) uint64 {
	t.Helper()
	cs := make([]events.Contact, n)
	for i := range cs {
		cs[i] = events.Contact{Source: "crm", ID: fmt.Sprint(from + i), Name: fmt.Sprint("Contact ", from+i),
			Phones: []events.Phone{{Raw: fmt.Sprintf("021 552 %04d", from+i)}}}
	}
	seq, err := contact.NewPublisher(env.JS, env.Topology).UpsertMany(t.Context(), "acme", cs)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func ready(r *projector.Readiness) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return r.Ready(ctx)
}

// TestRefillAfterEmptyRestart restarts the index's Redis empty (no
// persistence) under a running projector: it notices, projects CONTACTS
// again at once, lookups find every contact again within 10s, and
// readiness is never true while the index misses contacts.
func TestRefillAfterEmptyRestart(t *testing.T) {
	env := natstest.Connect(t)
	srv, rdb := ownRedis(t)
	const n = 300
	publishContacts(t, env, 0, n)
	runProjector(t, env, rdb)
	idx := index.NewRedis(rdb, "cdx")
	readiness := projector.NewReadiness(env.JS, env.Topology, projector.NewRedis(rdb, "cdx", env.Topology.Stream(events.StreamContacts)))
	complete := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := idx.Stats(ctx, "acme")
		if err != nil {
			return err
		}
		if s.Contacts != n {
			return fmt.Errorf("%d of %d contacts in the index", s.Contacts, n)
		}
		for _, i := range []int{0, n / 2, n - 1} {
			if got := lookup(t, idx, fmt.Sprintf("+41 21 552 %04d", i)); len(got) != 1 {
				return fmt.Errorf("contact %d not found: %v", i, got)
			}
		}
		return nil
	}
	if err := redistest.Eventually(10*time.Second, func() error { return errors.Join(complete(), ready(readiness)) }); err != nil {
		t.Fatalf("first projection: %v", err)
	}

	// Readiness is sampled between two looks at the index: if both found
	// it incomplete, readiness answered while it was (it only fills up).
	var stop atomic.Bool
	var readyWhileIncomplete, notReady atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			before := complete() != nil
			ok := ready(readiness) == nil
			after := complete() != nil
			switch {
			case ok && before && after:
				readyWhileIncomplete.Add(1)
			case !ok:
				notReady.Add(1)
			}
		}
	})
	restarted := time.Now()
	srv.Restart()
	err := redistest.Eventually(10*time.Second, complete)
	refilled := time.Since(restarted)
	if err == nil {
		err = redistest.Eventually(10*time.Second, func() error { return ready(readiness) })
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if c := readyWhileIncomplete.Load(); c > 0 {
		t.Errorf("readiness was true %d times while the index missed contacts", c)
	}
	if notReady.Load() == 0 {
		t.Error("readiness never reported the empty index")
	}
	t.Logf("index complete again %s after the restart began", refilled.Round(time.Millisecond))
}

// TestReplicaReadyWithoutProjector: a replica that runs no projector reads
// the checkpoint of the one that does: ready once the shared index has
// caught up with the stream as it is now, and a write it published is
// visible to its own lookups once WaitApplied returns.
func TestReplicaReadyWithoutProjector(t *testing.T) {
	env := natstest.Connect(t)
	srv, projectorRedis := ownRedis(t)
	replicaRedis := openRedis(t, srv.URL())
	replica := projector.NewReadiness(env.JS, env.Topology, projector.NewRedis(replicaRedis, "cdx", env.Topology.Stream(events.StreamContacts)))
	replicaIndex := index.NewRedis(replicaRedis, "cdx")
	publishContacts(t, env, 0, 100)
	if err := ready(replica); !errors.Is(err, projector.ErrCatchingUp) {
		t.Fatalf("ready before any projection: %v, want ErrCatchingUp", err)
	}

	stop := runProjector(t, env, projectorRedis)
	if err := redistest.Eventually(10*time.Second, func() error { return ready(replica) }); err != nil {
		t.Fatalf("replica not ready within 10s: %v", err)
	}
	seq := publishContacts(t, env, 100, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if err := replica.WaitApplied(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, replicaIndex, "+41 21 552 0100"); len(got) != 1 {
		t.Fatalf("after WaitApplied the replica finds %v", got)
	}

	// Measured against the stream as it is now, not as it was at start.
	stop()
	publishContacts(t, env, 101, 1)
	if err := redistest.Eventually(5*time.Second, func() error {
		if err := ready(replica); !errors.Is(err, projector.ErrCatchingUp) {
			return fmt.Errorf("ready = %v, want ErrCatchingUp", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	runProjector(t, env, projectorRedis)
	if err := redistest.Eventually(10*time.Second, func() error { return ready(replica) }); err != nil {
		t.Fatalf("replica not ready again: %v", err)
	}

	// A stalled Redis: readiness answers within its budget.
	srv.Pause()
	defer srv.Resume()
	const budget = 200 * time.Millisecond
	pctx, pcancel := context.WithTimeout(t.Context(), budget)
	defer pcancel()
	begin := time.Now()
	err := replica.Ready(pctx)
	if took := time.Since(begin); err == nil || took > budget+100*time.Millisecond {
		t.Errorf("readiness against a stalled Redis: %v after %s, want an error within %s", err, took, budget+100*time.Millisecond)
	}
}

// gated is an index whose writes wait until the gate opens.
type gated struct {
	index.Index
	gate chan struct{}
}

func (g gated) Upsert(ctx context.Context, tenant string, e index.Entry) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Index.Upsert(ctx, tenant, e)
}

// TestCaughtUpFollowsTheStream: events published after the projector
// started count too; it is not caught up while it lags behind them.
func TestCaughtUpFollowsTheStream(t *testing.T) {
	env := natstest.Connect(t)
	gate := make(chan struct{})
	p, _ := start(t, env, gated{Index: index.NewMemory(), gate: gate}, &projector.Memory{})
	caughtUp := func(want bool) func() error {
		return func() error {
			if p.CaughtUp() != want {
				return fmt.Errorf("CaughtUp = %v, want %v", !want, want)
			}
			return nil
		}
	}
	if err := redistest.Eventually(5*time.Second, caughtUp(true)); err != nil {
		t.Fatalf("empty stream: %v", err)
	}
	publishContacts(t, env, 0, 1)
	if err := redistest.Eventually(5*time.Second, caughtUp(false)); err != nil {
		t.Fatalf("while the index is held: %v", err)
	}
	close(gate)
	if err := redistest.Eventually(5*time.Second, caughtUp(true)); err != nil {
		t.Fatalf("after: %v", err)
	}
}
