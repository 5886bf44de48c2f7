package lookup

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/tenant"
)

// PhoneSource is a CRM that can be asked live who has a number (the
// crm.PhoneSearcher capability of a connector).
type PhoneSource interface {
	SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error)
}

// Sources gives a tenant's live sources by source name; none disables the
// fallback for that tenant.
type Sources interface {
	PhoneSources(ctx context.Context, t *tenant.Tenant) map[string]PhoneSource
}

// Publisher stores what a live search found, so the next call is an index hit.
type Publisher interface {
	UpsertMany(ctx context.Context, tenant string, cs []events.Contact) (uint64, error)
}

// FallbackConfig configures the live fallback on an index miss; the budget
// and how long a miss is remembered are the tenant's (tenant.Fallback).
type FallbackConfig struct {
	// MaxMisses bounds the remembered misses (default 100,000).
	MaxMisses int
}

// fallback asks live sources on an index miss.
type fallback struct {
	cfg     FallbackConfig
	sources Sources
	pub     Publisher
	log     *slog.Logger

	mu     sync.Mutex
	misses map[string]time.Time // tenant + "\x00" + first candidate → until
}

// WithFallback makes the service ask the tenants' live sources when the
// index has no match.
func (s *Service) WithFallback(cfg FallbackConfig, sources Sources, pub Publisher, log *slog.Logger) *Service {
	if cfg.MaxMisses == 0 {
		cfg.MaxMisses = 100_000
	}
	if log == nil {
		log = slog.Default()
	}
	s.fb = &fallback{cfg: cfg, sources: sources, pub: pub, log: log, misses: map[string]time.Time{}}
	return s
}

// search asks every source in parallel and answers with what came back
// within the budget (or the caller's deadline, if sooner).
func (f *fallback) search(ctx context.Context, t *tenant.Tenant, keys []phone.Key) []index.Match {
	tenant := t.ID
	numbers := liveNumbers(keys)
	if len(numbers) == 0 {
		return nil
	}
	missKey := tenant + "\x00" + numbers[0]
	if f.recentMiss(missKey) {
		return nil
	}
	sources := f.sources.PhoneSources(ctx, t)
	if len(sources) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.Fallback.Budget)
	defer cancel()
	type answer struct {
		source   string
		contacts []events.Contact
		err      error
	}
	answers := make(chan answer, len(sources))
	for name, src := range sources {
		go func() {
			cs, err := src.SearchPhone(ctx, numbers)
			answers <- answer{name, cs, err}
		}()
	}
	var found []events.Contact
	complete := true
	for range sources {
		select {
		case a := <-answers:
			if a.err != nil {
				complete = false
				if !errors.Is(a.err, context.DeadlineExceeded) {
					f.log.Warn("live phone search failed", "tenant", tenant, "source", a.source, "err", a.err)
				}
				continue
			}
			for _, c := range a.contacts {
				c.Source = a.source
				if c.UpdatedAt.IsZero() {
					c.UpdatedAt = time.Now().UTC()
				}
				found = append(found, c)
			}
		case <-ctx.Done():
			complete = false
		}
		if ctx.Err() != nil {
			break
		}
	}
	if len(found) == 0 {
		// Only a miss every source confirmed is remembered: a slow CRM
		// must get another chance on the next call.
		if complete {
			f.rememberMiss(missKey, t.Fallback.MissTTL)
		}
		return nil
	}
	f.publish(tenant, found)
	if len(found) > t.MaxResults {
		found = found[:t.MaxResults]
	}
	out := make([]index.Match, len(found))
	for i, c := range found {
		out[i] = index.Match{Contact: c, Kind: phone.Exact}
	}
	return out
}

// publish stores found contacts off the answer's path.
func (f *fallback) publish(tenant string, cs []events.Contact) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := f.pub.UpsertMany(ctx, tenant, cs); err != nil {
			f.log.Warn("publish live search results", "tenant", tenant, "err", err)
		}
	}()
}

func (f *fallback) recentMiss(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	until, ok := f.misses[key]
	if ok && time.Now().After(until) {
		delete(f.misses, key)
		return false
	}
	return ok
}

func (f *fallback) rememberMiss(key string, ttl time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.misses) >= f.cfg.MaxMisses {
		// Dropping everything is crude but bounded; the cost is one extra
		// live search per unknown caller.
		clear(f.misses)
	}
	f.misses[key] = time.Now().Add(ttl)
}

// liveNumbers are the E.164 numbers a CRM is asked for.
func liveNumbers(keys []phone.Key) []string {
	var out []string
	for _, k := range keys {
		if e, ok := strings.CutPrefix(string(k), "e:"); ok {
			out = append(out, e)
		}
	}
	return out
}
