package accountlimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/accountlimit"
)

func TestLimiterIsSharedPerKey(t *testing.T) {
	r := accountlimit.New()
	a := r.Limiter("hubspot/1/search", time.Hour)
	if r.Limiter("hubspot/1/search", time.Millisecond) != a {
		t.Fatal("a second instance of the account got a limiter of its own")
	}
	if r.Limiter("hubspot/2/search", time.Hour) == a {
		t.Fatal("two accounts share a limiter")
	}
}

func TestWait(t *testing.T) {
	l := accountlimit.New().Limiter("crm/1/search", time.Hour)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatalf("first call: %v", err)
	}
	// The next turn is an hour away: a deadline before it fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := l.Wait(ctx)
	var ra *crm.RetryAfterError
	if !errors.Is(err, crm.ErrNotSent) || !errors.As(err, &ra) || ra.After <= time.Minute {
		t.Fatalf("deadline before the turn: %v", err)
	}
	// Without a deadline it waits until its context ends.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, crm.ErrNotSent) || !errors.Is(err, context.Canceled) || crm.IsPermanent(err) {
		t.Fatalf("canceled wait: %v", err)
	}
	// Calls spaced by a short interval all go, in turn.
	short := accountlimit.New().Limiter("crm/2/search", 5*time.Millisecond)
	for i := range 3 {
		if err := short.Wait(context.Background()); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

func TestBudget(t *testing.T) {
	now := time.Date(2024, 5, 1, 23, 0, 0, 0, time.UTC)
	old := crm.Now
	crm.Now = func() time.Time { return now }
	t.Cleanup(func() { crm.Now = old })

	r := accountlimit.New()
	b := r.Budget("pipedrive/acme/tokens", 30)
	if r.Budget("pipedrive/acme/tokens", 1000) != b || r.Budget("pipedrive/other/tokens", 30) == b {
		t.Fatal("budgets are not one per key")
	}
	for i := range 3 {
		if err := b.Spend(10); err != nil {
			t.Fatalf("spend %d: %v", i, err)
		}
	}
	err := b.Spend(1)
	var ra *crm.RetryAfterError
	if !errors.Is(err, crm.ErrNotSent) || !errors.As(err, &ra) || ra.After != time.Hour {
		t.Fatalf("past the budget: %v, want not sent, retry after the hour left until midnight UTC", err)
	}
	if b.Spent() != 30 {
		t.Errorf("spent %d after a refused call, want 30", b.Spent())
	}
	now = now.Add(time.Hour) // midnight UTC: a new day, a new budget
	if b.Spent() != 0 {
		t.Errorf("spent %d on a new day", b.Spent())
	}
	if err := b.Spend(30); err != nil {
		t.Fatalf("new day: %v", err)
	}
}
