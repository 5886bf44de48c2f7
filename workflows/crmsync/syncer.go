package crmsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/crm"
)

// Publisher writes contact events to CONTACTS and returns once JetStream
// has acked them (*contact.Publisher).
type Publisher interface {
	UpsertMany(ctx context.Context, tenant string, cs []events.Contact) (uint64, error)
	Delete(ctx context.Context, tenant, source, id string) (uint64, error)
}

// Instance is a connector instance the sync owns (*connectors.Connector):
// its guarded crm.ChangeLister, if it has one, and Close, which releases
// what it holds (a SQL pool).
type Instance interface {
	ChangeLister() (crm.ChangeLister, bool)
	Close() error
}

// Notifying is an Instance that may tell of changes as they happen
// (*connectors.Connector): the sync then polls at once on each.
type Notifying interface {
	ChangeNotifier() (crm.ChangeNotifier, bool)
}

// Builder builds a connector instance of its own for the sync from the
// tenant config (*connectors.Factory; asserted in the tests, so that
// package connectors may use this one).
type Builder interface {
	Build(ctx context.Context, name string, c tenant.Connector) (Instance, error)
}

// Tenants lists the configured tenants and finds one (*tenant.Registry).
type Tenants interface {
	Tenants() []*tenant.Tenant
	Tenant(id string) (*tenant.Tenant, bool)
}

var (
	_ Publisher = (*contact.Publisher)(nil)
	_ Tenants   = (*tenant.Registry)(nil)
)

// Deps are the Syncer's ready clients.
type Deps struct {
	// JS reads the CONTACTS stream's subjects to reconcile a resync.
	JS jetstream.JetStream
	// Cursors is the sync_cursors bucket (natsx.Setup).
	Cursors jetstream.KeyValue
	// Contacts publishes the contact events.
	Contacts Publisher
	// Connectors builds each tenant connector; those that have a
	// crm.ChangeLister are synced. The connector sees its options without
	// OptionKeys.
	Connectors Builder
	Tenants    Tenants
	// Metrics receives the sync collectors (lag, contacts, errors).
	Metrics *metrics.Metrics
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Syncer runs one sync loop per (tenant, source), where a source is a
// tenant connector that lists changes; see the package documentation.
type Syncer struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	requests *Requests
	sources  []*source
	accounts *accounts
	// mu guards sources and byKey, which TenantsChanged changes.
	mu      sync.RWMutex
	byKey   map[string]*source
	sched   *scheduler
	running atomic.Bool
	now     func() time.Time
}

// New checks the config, the dependencies and every connector's sync
// options (all problems at once). Connectors are built by Run.
func New(cfg Config, deps Deps) (*Syncer, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if deps.JS == nil || deps.Cursors == nil || deps.Contacts == nil || deps.Connectors == nil || deps.Tenants == nil || deps.Metrics == nil {
		errs = append(errs, errors.New("crmsync: JS, Cursors, Contacts, Connectors, Tenants and Metrics are required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	log := deps.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Syncer{cfg: cfg, deps: deps, log: log, requests: NewRequests(deps.Cursors), byKey: map[string]*source{}, now: time.Now,
		accounts: &accounts{limiters: map[string]*rate.Limiter{}}}
	tenants := slices.SortedFunc(slices.Values(deps.Tenants.Tenants()), func(a, b *tenant.Tenant) int { return cmp.Compare(a.ID, b.ID) })
	for _, t := range tenants {
		srcs, err := s.sourcesOf(t)
		errs = append(errs, err)
		for _, src := range srcs {
			s.sources = append(s.sources, src)
			s.byKey[src.key] = src
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.sched = newScheduler(s)
	return s, nil
}

// sourcesOf makes the sources of a tenant: its connectors with sync on.
func (s *Syncer) sourcesOf(t *tenant.Tenant) ([]*source, error) {
	var out []*source
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(t.Connectors)) {
		c := t.Connectors[name]
		so, err := ParseSourceOptions(c.Options)
		if err != nil {
			errs = append(errs, fmt.Errorf("crmsync: tenant %s connector %s: %w", t.ID, name, err))
			continue
		}
		if !so.Sync {
			continue
		}
		src := s.newSource(t.ID, name, tenant.Connector{Type: c.Type, Options: ConnectorOptions(c.Options)}, so)
		if so.Account != "" {
			src.account = s.accounts.limiter(so.Account, cmp.Or(so.AccountRateLimit, s.cfg.DefaultAccountRateLimit))
		}
		out = append(out, src)
	}
	return out, errors.Join(errs...)
}

// TenantsChanged makes the sources of the given tenants what Tenants says
// now (call it after the registry changed; tenantstore.WatchConfig
// OnChange): sources of removed tenants or connectors stop, new ones start
// if their shard is held here, and a source whose connector definition
// changed starts again with a new connector from its stored cursor. Bad
// sync options are logged; the tenant's other sources still change.
func (s *Syncer) TenantsChanged(ids []string) {
	for _, id := range ids {
		var fresh []*source
		if t, ok := s.deps.Tenants.Tenant(id); ok {
			srcs, err := s.sourcesOf(t)
			if err != nil {
				s.log.Error("crm sync: tenant's sync options refused", "tenant", id, "err", err)
			}
			fresh = srcs
		}
		s.mu.Lock()
		next := map[string]*source{}
		for _, src := range fresh {
			next[src.key] = src
			if old, ok := s.byKey[src.key]; ok && reflect.DeepEqual(old.conn, src.conn) && old.opts == src.opts {
				next[src.key] = old // unchanged: keeps its connector and turn
			}
		}
		for key, old := range s.byKey {
			if old.tenant == id && next[key] != old {
				s.sched.remove(old)
				delete(s.byKey, key)
			}
		}
		s.sources = slices.DeleteFunc(s.sources, func(src *source) bool { return src.tenant == id && next[src.key] != src })
		for key, src := range next {
			if s.byKey[key] != src {
				s.byKey[key] = src
				s.sources = append(s.sources, src)
				s.sched.add(src)
			}
		}
		s.mu.Unlock()
	}
}

func (s *Syncer) newSource(tenantID, name string, conn tenant.Connector, so SourceOptions) *source {
	if so.Interval == 0 {
		so.Interval = s.cfg.DefaultInterval
	}
	if so.RateLimit == 0 {
		so.RateLimit = s.cfg.DefaultRateLimit
	}
	key := stateKey(tenantID, name)
	return &source{
		sy:        s,
		tenant:    tenantID,
		name:      name,
		key:       key,
		conn:      conn,
		opts:      so,
		limiter:   rate.NewLimiter(rate.Limit(so.RateLimit), max(1, int(so.RateLimit))),
		shard:     shardOf(key, s.cfg.Shards),
		heapIndex: -1,
		log:       s.log.With("tenant", tenantID, "source", name),
	}
}

// Sources lists the configured sources as "<tenant>.<source>", including
// connectors that turn out not to list changes once built.
func (s *Syncer) Sources() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, len(s.sources))
	for i, src := range s.sources {
		out[i] = src.key
	}
	return out
}

// Owner is the name this replica holds leases under.
func (s *Syncer) Owner() string { return s.cfg.Owner }

// Run syncs the sources of the shards this replica holds until ctx ends,
// then releases its shard leases and closes the connectors it built. A
// failing source never stops Run nor the other sources; Run returns nil
// once stopped.
func (s *Syncer) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.closeConnectors()
	var wg sync.WaitGroup
	schedCtx, stopSched := context.WithCancel(context.Background())
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); s.sched.run(schedCtx) }()
	coord := newCoordinator(s, func(shard int) { s.sched.gain(schedCtx, shard) }, s.sched.lose, s.sched.leaseLost)
	// The coordinator stops the shards' sources before it gives their
	// leases back; the scheduler stops after it.
	wg.Go(func() {
		coord.run(ctx)
		stopSched()
		<-schedDone
	})
	for _, filter := range requestKeyFilters {
		wg.Go(func() { s.watchRequests(ctx, filter) })
	}
	wg.Go(func() { s.refreshMetrics(ctx) })
	s.log.Info("crm sync running", "owner", s.cfg.Owner, "sources", len(s.Sources()), "shards", s.cfg.Shards, "workers", s.cfg.Workers)
	wg.Wait()
	return nil
}

func (s *Syncer) closeConnectors() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, src := range s.sources {
		src.closeConnector()
	}
}

func (s *Syncer) source(tenantID, name string) (*source, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	src, ok := s.byKey[stateKey(tenantID, name)]
	return src, ok
}

// SyncNow asks the replica that syncs the source to poll it now (see
// Requests.SyncNow). It returns ErrUnknownSource for a source this Syncer
// was not configured with.
func (s *Syncer) SyncNow(ctx context.Context, tenantID, source string) error {
	src, ok := s.source(tenantID, source)
	if !ok {
		return fmt.Errorf("sync now %s/%s: %w", tenantID, source, ErrUnknownSource)
	}
	src.poke()
	return s.requests.SyncNow(ctx, tenantID, source)
}

// Resync asks for a full resync of the source (see Requests.Resync): the
// cursor is reset and, after a complete pass, the contacts of the source
// the CRM did not list are deleted.
func (s *Syncer) Resync(ctx context.Context, tenantID, source string) error {
	src, ok := s.source(tenantID, source)
	if !ok {
		return fmt.Errorf("resync %s/%s: %w", tenantID, source, ErrUnknownSource)
	}
	if err := s.requests.Resync(ctx, tenantID, source); err != nil {
		return err
	}
	src.poke()
	return nil
}

// watchRequests wakes the local source of every request whose key
// matches filter, written to the bucket by any process.
func (s *Syncer) watchRequests(ctx context.Context, filter string) {
	failures := 0
	for ctx.Err() == nil {
		w, err := s.deps.Cursors.Watch(ctx, filter, jetstream.UpdatesOnly())
		if err != nil {
			failures++
			s.log.Warn("crm sync: cannot watch sync requests; polling only", "err", err)
			if !sleep(ctx, backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, failures), nil) {
				return
			}
			continue
		}
		failures = 0
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			if t, src, ok := parseRequestKey(e.Key()); ok {
				if local, ok := s.source(t, src); ok {
					local.poke()
				}
			}
		}
		_ = w.Stop()
		if !sleep(ctx, s.cfg.MinBackoff, nil) {
			return
		}
	}
}

// refreshMetrics keeps the time-based gauges of led sources current.
func (s *Syncer) refreshMetrics(ctx context.Context) {
	t := time.NewTicker(s.cfg.MetricsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.RLock()
			srcs := slices.Clone(s.sources)
			s.mu.RUnlock()
			for _, src := range srcs {
				src.updateGauges()
			}
		}
	}
}

// sleep waits d, or less when wake fires; false when ctx ended first. A
// nil wake channel is never ready.
func sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-wake:
		return true
	}
}
