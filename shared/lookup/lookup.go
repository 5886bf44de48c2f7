// Package lookup is the one lookup core every dialect calls: number →
// candidate keys → one index round trip → ranked contacts.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// Result is a lookup with what it checked, for answers and for explaining.
type Result struct {
	Number     string      `json:"number"`
	Candidates []phone.Key `json:"candidates"`
	// Matches are ranked by the tenant's ContactRanking (Rank), one per
	// person: the same person from several sources is answered once, by
	// the entry ranked first.
	Matches []index.Match `json:"matches"`
	// Merged[i] are the entries of other sources folded into Matches[i] as
	// the same person (see samePerson), at most one per source; nil when
	// nothing was folded, as with a single source.
	Merged [][]events.Contact `json:"merged,omitempty"`
	// NotANumber is set when the input can never be a phone number: a miss,
	// not a client error, since phone systems send what the caller sent.
	NotANumber string `json:"notANumber,omitempty"`
	// Live is set when the matches came from a live source, not the index.
	Live bool `json:"live,omitempty"`
	// Risk is the caller's risk signal; zero when there is none or the
	// service has no Assessor.
	Risk risk.Assessment `json:"risk,omitzero"`
	Took time.Duration   `json:"tookNs"`
}

// Assessor scores callers from memory (risk.Cache): it must not wait on
// anything, as it runs on the ringing path.
type Assessor interface {
	Assess(keys []phone.Key, region string, t risk.Thresholds) risk.Assessment
}

var _ Assessor = (*risk.Cache)(nil)

// Service looks numbers up in an index.
type Service struct {
	idx  index.Index
	fb   *fallback
	risk Assessor
	// instant: the index answers from memory (see Instant).
	instant bool
}

// Instant is an index that answers from the process's memory and never
// waits on anything its context could end: a deadline would never fire,
// and setting one costs every lookup (index.Memory).
type Instant interface{ Instant() }

// WithRisk scores every lookup's caller with a (nil: none) for tenants that
// do not disable it.
func (s *Service) WithRisk(a Assessor) *Service {
	s.risk = a
	return s
}

// New builds the lookup core over an index.
func New(idx index.Index) *Service {
	_, instant := idx.(Instant)
	return &Service{idx: idx, instant: instant}
}

// Lookup finds the contacts of a number for a tenant, at most its
// MaxResults, ranked by its ContactRanking, each person once.
// The error is for a failing index only: ErrTimeout when the index did not
// answer within the tenant's LookupTimeout (default
// tenant.DefaultLookupTimeout), which bounds the index's part only; a live
// fallback after a miss keeps its own budget.
func (s *Service) Lookup(ctx context.Context, t *tenant.Tenant, number string) (Result, error) {
	start := time.Now()
	res := Result{Number: number}
	keys, err := phone.Candidates(number, t.PhoneOptions())
	if err != nil {
		if !errors.Is(err, phone.ErrNotANumber) {
			return res, fmt.Errorf("lookup %s: %w", t.ID, err)
		}
		res.NotANumber = err.Error()
		res.Took = time.Since(start)
		return res, nil
	}
	res.Candidates = keys
	if s.risk != nil && !t.Risk.Disabled {
		res.Risk = s.risk.Assess(keys, t.Region, t.Risk.Thresholds)
	}
	res.Matches, err = s.lookupIndex(ctx, t, keys)
	if err != nil {
		res.Took = time.Since(start)
		return res, err
	}
	if len(res.Matches) == 0 && s.fb != nil {
		res.Matches = s.fb.search(ctx, t, keys)
		res.Live = len(res.Matches) > 0
	}
	Rank(t.ContactRanking, res.Matches)
	res.Matches, res.Merged = merge(res.Matches)
	if len(res.Matches) > t.MaxResults {
		res.Matches = res.Matches[:t.MaxResults]
		if res.Merged != nil {
			res.Merged = res.Merged[:t.MaxResults]
		}
	}
	res.Took = time.Since(start)
	return res, nil
}

// E164 is the number's most likely valid E.164 reading (what
// phone.Normalize returns), "" when it has none: the first E.164
// candidate.
func (r Result) E164() string {
	for _, k := range r.Candidates {
		if e, ok := k.E164(); ok {
			return e
		}
	}
	return ""
}

// MergedFrom is the entry of source that answers for Matches[i]: the match
// itself, or the entry of that source folded into it; ok is false when
// the person has none from source.
func (r Result) MergedFrom(i int, source string) (c events.Contact, ok bool) {
	if r.Matches[i].Contact.Source == source {
		return r.Matches[i].Contact, true
	}
	for _, c := range r.MergedInto(i) {
		if c.Source == source {
			return c, true
		}
	}
	return events.Contact{}, false
}

// MergedInto is Merged[i]: the other sources' entries of the person of
// Matches[i], none when nothing was merged.
func (r Result) MergedInto(i int) []events.Contact {
	if r.Merged == nil {
		return nil
	}
	return r.Merged[i]
}

// lookupIndex asks the index within the tenant's LookupTimeout.
func (s *Service) lookupIndex(ctx context.Context, t *tenant.Tenant, keys []phone.Key) ([]index.Match, error) {
	timeout := t.LookupTimeout
	if timeout <= 0 {
		timeout = tenant.DefaultLookupTimeout
	}
	ictx := ctx
	if !s.instant {
		var cancel context.CancelFunc
		ictx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	limit := t.MaxResults
	if t.ContactRanking != tenant.RankMostRecentlyUpdated && t.ContactRanking != "" {
		limit = max(limit, RankWindow)
	}
	ms, err := s.idx.Lookup(ictx, t.ID, keys, limit)
	// The connection's deadline is the context's (or, in a shared pipeline,
	// another caller's as late): either may fire first.
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("lookup %s: %w after %s: %w", t.ID, ErrTimeout, timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", t.ID, err)
	}
	return ms, nil
}
