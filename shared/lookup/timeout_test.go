package lookup_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/redistest"
	"github.com/calldex/calldex/shared/redisx"
)

// TestLookupDeadline stalls the test's own Redis (SIGSTOP) and kills it:
// every lookup, including those queued behind the stuck pipeline, answers
// ErrTimeout or an error within the tenant's lookupTimeout plus 100ms, and
// lookups find the contact again once Redis answers.
func TestLookupDeadline(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb, _, err := redisx.Open(t.Context(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	idx := index.NewRedis(rdb, "cdx")
	ten := *acme
	ten.LookupTimeout = 300 * time.Millisecond
	const number = "+41215522000"
	_, keys, err := phone.IndexKeys(number, ten.PhoneOptions())
	if err != nil {
		t.Fatal(err)
	}
	c := events.Contact{Source: "crm", ID: "1", Name: "Anna", UpdatedAt: time.Now()}
	if err := idx.Upsert(t.Context(), ten.ID, index.Entry{Contact: c, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	svc := lookup.New(idx)
	found := func() error {
		res, err := svc.Lookup(t.Context(), &ten, number)
		if err != nil {
			return err
		}
		if len(res.Matches) != 1 {
			return errors.New("contact not found")
		}
		return nil
	}
	if err := found(); err != nil {
		t.Fatal(err)
	}
	bound := ten.LookupTimeout + 100*time.Millisecond
	// lookups runs n concurrent lookups and checks each failed in time.
	lookups := func(what string, n int, wantErr error) {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		var slowest time.Duration
		defer func() { t.Logf("%s: slowest of %d lookups answered in %s", what, n, slowest.Round(time.Millisecond)) }()
		defer wg.Wait()
		for range n {
			wg.Go(func() {
				start := time.Now()
				_, err := svc.Lookup(context.WithoutCancel(t.Context()), &ten, number)
				took := time.Since(start)
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
				if err == nil || (wantErr != nil && !errors.Is(err, wantErr)) {
					t.Errorf("%s: lookup error %v, want %v", what, err, wantErr)
				}
				if took > bound {
					t.Errorf("%s: lookup answered after %s, want within %s", what, took, bound)
				}
			})
		}
	}

	srv.Pause()
	lookups("stalled", 20, lookup.ErrTimeout)
	lookups("still stalled", 20, lookup.ErrTimeout)
	srv.Resume()
	if err := redistest.Eventually(10*time.Second, found); err != nil {
		t.Fatalf("after resume: %v", err)
	}

	srv.Kill()
	lookups("refused", 20, nil)
}

// deadlineSeen records whether lookups reached it with a deadline.
type deadlineSeen struct {
	index.Index
	had bool
}

func (d *deadlineSeen) Lookup(ctx context.Context, tenant string, keys []phone.Key, limit int) ([]index.Match, error) {
	_, d.had = ctx.Deadline()
	return d.Index.Lookup(ctx, tenant, keys, limit)
}

// instantSeen is deadlineSeen over an index that answers from memory.
type instantSeen struct{ *deadlineSeen }

func (instantSeen) Instant() {}

// An index that answers from memory gets no deadline (it could never
// fire); any other index gets the tenant's lookupTimeout.
func TestLookupDeadlineOnlyWhereItCanFire(t *testing.T) {
	waits := &deadlineSeen{Index: index.NewMemory()}
	instant := &deadlineSeen{Index: index.NewMemory()}
	for _, idx := range []index.Index{waits, instantSeen{instant}} {
		if _, err := lookup.New(idx).Lookup(t.Context(), acme, "+41215522000"); err != nil {
			t.Fatal(err)
		}
	}
	if !waits.had {
		t.Error("an index that may wait saw no deadline")
	}
	if instant.had {
		t.Error("an index answering from memory saw a deadline")
	}
}
