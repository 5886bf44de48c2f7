// Package accountlimit shares a CRM account's rate limits and daily
// budgets between every connector instance of that account in the
// process. A CRM counts some limits per account, whatever app or token
// makes the call (HubSpot's search: about 4 requests a second per portal;
// Pipedrive's search: 10 requests per 2 s, and a daily token budget, per
// company), while Calldex builds one
// instance per owner: the live lookup and App Connect share the factory's
// cached instance, the worker too, but the sync builds its own. They must
// still take turns under one limit.
package accountlimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/calldex/calldex/workflows/crm"
)

// Registry hands out one Limiter per key. It is safe for concurrent use;
// its zero value is not: use New.
type Registry struct {
	mu sync.Mutex
	m  map[string]*Limiter
	b  map[string]*Budget
}

// New returns an empty registry.
func New() *Registry { return &Registry{m: map[string]*Limiter{}, b: map[string]*Budget{}} }

// Limiter returns the key's limiter, which lets one call through every
// interval (no burst: a CRM that counts per second refuses a burst at the
// edge of its window). The first caller of a key sets the interval; later
// callers share that limiter whatever interval they ask for. Name the key
// by CRM, account and kind of call: "hubspot/62515/search".
func (r *Registry) Limiter(key string, interval time.Duration) *Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.m[key]
	if !ok {
		l = &Limiter{key: key, l: rate.NewLimiter(rate.Every(interval), 1)}
		r.m[key] = l
	}
	return l
}

// Limiter spaces the calls of one account.
type Limiter struct {
	key string
	l   *rate.Limiter
}

// Wait blocks until the next call may go. When ctx ends first, or its
// deadline comes before the call's turn (a ringing phone cannot wait for
// the sync's turn to pass), it returns at once a transient error
// (crm.ErrNotSent; with the wait as Retry-After when known).
func (l *Limiter) Wait(ctx context.Context) error {
	r := l.l.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.Cancel()
		return &crm.RetryAfterError{After: d, Err: fmt.Errorf("%s: %w: rate limit: next call in %s, after the deadline", l.key, crm.ErrNotSent, d.Round(time.Millisecond))}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return crm.Transient(fmt.Errorf("%s: %w: rate limit: %w", l.key, crm.ErrNotSent, ctx.Err()))
	}
}

// Budget returns the key's daily budget: limit units a UTC day, shared by
// every caller of the key. The first caller sets the limit. Name the key by
// CRM and account: "pipedrive/acme/tokens".
func (r *Registry) Budget(key string, limit int) *Budget {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.b[key]
	if !ok {
		b = &Budget{key: key, limit: limit}
		r.b[key] = b
	}
	return b
}

// Budget counts what the calls of one account spend in a UTC day, for a
// CRM that charges each call against a daily allowance and tells nothing
// of what is left. It counts only this process's calls, and from the
// process's start: other processes and other apps of the account spend
// the same allowance unseen.
type Budget struct {
	key   string
	limit int

	mu    sync.Mutex
	day   time.Time // the UTC midnight that began the counted day
	spent int
}

// Spend counts cost against today's budget. Past the budget it counts
// nothing and returns a transient crm.ErrNotSent with the time left until
// the next UTC midnight as Retry-After.
func (b *Budget) Spend(cost int) error {
	now := crm.Now().UTC()
	day := now.Truncate(24 * time.Hour)
	b.mu.Lock()
	defer b.mu.Unlock()
	if !day.Equal(b.day) {
		b.day, b.spent = day, 0
	}
	if b.spent+cost > b.limit {
		wait := day.Add(24 * time.Hour).Sub(now)
		return &crm.RetryAfterError{After: wait, Err: fmt.Errorf("%s: %w: daily budget of %d spent (%d used), resets at 00:00 UTC", b.key, crm.ErrNotSent, b.limit, b.spent)}
	}
	b.spent += cost
	return nil
}

// Spent is what today's calls have spent so far.
func (b *Budget) Spent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !crm.Now().UTC().Truncate(24 * time.Hour).Equal(b.day) {
		return 0
	}
	return b.spent
}
