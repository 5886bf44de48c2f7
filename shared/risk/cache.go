package risk

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/calldex/calldex/shared/phone"
)

// Defaults of CacheConfig.
const (
	DefaultCacheSize     = 2000
	DefaultCacheInterval = 5 * time.Second
	defaultFactsMemo     = 100_000
)

// CacheConfig says what a Cache holds and how fresh.
type CacheConfig struct {
	// Size is how many of the busiest numbers it holds (default 2,000):
	// a number outside them has no behavioural signal, only its facts.
	Size int
	// Interval between refreshes from the store (default 5s).
	Interval time.Duration
}

// Cache answers the lookup path from memory: the Stats of the busiest
// numbers (a snapshot refreshed from the Store in the background, never on
// a lookup) and each number's Facts, memoised.
type Cache struct {
	store Store
	cfg   CacheConfig
	log   *slog.Logger
	stats atomic.Pointer[map[string]Stats]
	// valid memoises the facts of E.164 numbers; invalid those of the
	// digits of invalid ones, per region.
	valid   *factsMemo
	invalid sync.Map // region → *factsMemo
}

// NewCache returns an empty cache of store; Run fills it.
func NewCache(store Store, cfg CacheConfig, log *slog.Logger) *Cache {
	if cfg.Size <= 0 {
		cfg.Size = DefaultCacheSize
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultCacheInterval
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{store: store, cfg: cfg, log: log, valid: newFactsMemo(defaultFactsMemo)}
	c.stats.Store(&map[string]Stats{})
	return c
}

// Run refreshes the cache every Interval until ctx ends; a failed refresh
// keeps the previous snapshot.
func (c *Cache) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("risk cache refresh", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Refresh replaces the snapshot with the store's busiest numbers; those
// without a call to count in a ratio or a second tenant are left out, as no
// rule can fire on them.
func (c *Cache) Refresh(ctx context.Context) error {
	top, err := c.store.Top(ctx, c.cfg.Size)
	if err != nil {
		return err
	}
	m := make(map[string]Stats, len(top))
	for _, ns := range top {
		if ns.Tenants < 2 && ns.Calls < 2 && ns.Finished < 2 {
			continue
		}
		m[ns.Number] = ns.Stats
	}
	c.stats.Store(&m)
	return nil
}

// Assess scores a looked-up number from its candidate keys (phone.Candidates
// in region) with thresholds t. It reads memory only, and allocates nothing
// once a number's facts are memoised.
func (c *Cache) Assess(keys []phone.Key, region string, t Thresholds) Assessment {
	for _, k := range keys {
		if e164, ok := strings.CutPrefix(string(k), "e:"); ok {
			f := c.valid.get(e164, func() Facts { return FactsOf(e164, "") })
			return Score((*c.stats.Load())[e164], f, t)
		}
	}
	for _, k := range keys {
		if digits, ok := strings.CutPrefix(string(k), "d:"); ok {
			// The first "d:" key holds the digits as the caller sent them.
			return Score(Stats{}, c.invalidFacts(region, digits), t)
		}
	}
	return Assessment{}
}

func (c *Cache) invalidFacts(region, digits string) Facts {
	m, ok := c.invalid.Load(region)
	if !ok {
		m, _ = c.invalid.LoadOrStore(region, newFactsMemo(defaultFactsMemo/10))
	}
	return m.(*factsMemo).get(digits, func() Facts { return FactsOf(digits, region) })
}
