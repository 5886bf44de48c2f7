// Package pipelinetest runs the contact path of a sql source from end to
// end, as the services wire it: the sql connector built by
// connectors.Factory from tenant options, a crmsync.Syncer publishing to
// CONTACTS, and the projector writing a Redis index that lookups read. The
// end-to-end tests and services/bench/sqlsync use it on real databases,
// NATS and Redis.
package pipelinetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crmsync"
)

// Config configures a Pipeline.
type Config struct {
	// Topology names CONTACTS and the sync_cursors bucket (set up already).
	Topology events.Topology
	// Tenant and Source name the tenant and its sql connector.
	Tenant, Source string
	// Phone are the tenant's phone conventions.
	Phone phone.Options
	// Connector are the connector's options as in the tenant YAML: the sql
	// connector's (driver, dsn, …) and the sync's (syncInterval, rateLimit).
	Connector map[string]any
	// RedisPrefix prefixes every Redis key of the index and checkpoint.
	RedisPrefix string
	// Sync configures each Syncer; Topology and Owner are filled in.
	Sync crmsync.Config
	// Log defaults to a logger that drops everything.
	Log *slog.Logger
}

// Deps are the ready clients a Pipeline works with.
type Deps struct {
	JS      jetstream.JetStream
	Cursors jetstream.KeyValue
	Redis   *redis.Client
}

// Pipeline is a running projector into a Redis index, and the means to run
// syncers of the source beside it.
type Pipeline struct {
	cfg       Config
	deps      Deps
	tenant    *tenant.Tenant
	Index     *index.Redis
	Projector *projector.Projector
	stop      func()
	syncers   atomic.Int64
}

// Start starts the projector.
func Start(ctx context.Context, cfg Config, deps Deps) (*Pipeline, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	idx := index.NewRedis(deps.Redis, cfg.RedisPrefix)
	cp := projector.NewRedis(deps.Redis, cfg.RedisPrefix, cfg.Topology.Stream(events.StreamContacts))
	p := &Pipeline{cfg: cfg, deps: deps, Index: idx, tenant: &tenant.Tenant{
		ID: cfg.Tenant, Region: cfg.Phone.Region, TailDigits: cfg.Phone.TailDigits,
		Connectors: map[string]tenant.Connector{cfg.Source: {Type: "sql", Options: cfg.Connector}},
	}}
	proj, err := projector.New(projector.Config{Topology: cfg.Topology}, deps.JS, idx, phones{cfg.Tenant, cfg.Phone}, cp, cfg.Log)
	if err != nil {
		return nil, err
	}
	p.Projector = proj
	p.stop = goRun(ctx, func(ctx context.Context) {
		if err := proj.Run(ctx); err != nil && ctx.Err() == nil {
			cfg.Log.Error("projector stopped", "err", err)
		}
	})
	return p, nil
}

// Close stops the projector.
func (p *Pipeline) Close() { p.stop() }

// Lookup answers who has number, as the lookup path asks the index.
func (p *Pipeline) Lookup(ctx context.Context, number string) ([]string, error) {
	keys, err := phone.Candidates(number, p.cfg.Phone)
	if err != nil {
		return nil, err
	}
	ms, err := p.Index.Lookup(ctx, p.cfg.Tenant, keys, 10)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Contact.ID
	}
	return ids, nil
}

// Syncer is one running crmsync.Syncer (one replica) and what it published.
type Syncer struct {
	*crmsync.Syncer
	// Upserts and Deletes count the contact events it had acked.
	Upserts, Deletes atomic.Int64
	stop             func()
}

// StartSyncer starts a Syncer of the source, with a connector of its own.
func (p *Pipeline) StartSyncer(ctx context.Context) (*Syncer, error) {
	cfg := p.cfg.Sync
	cfg.Topology = p.cfg.Topology
	cfg.Owner = fmt.Sprintf("pipelinetest-%d", p.syncers.Add(1))
	factory, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		return nil, err
	}
	s := &Syncer{}
	sy, err := crmsync.New(cfg, crmsync.Deps{
		JS: p.deps.JS, Cursors: p.deps.Cursors, Contacts: &counting{Publisher: contact.NewPublisher(p.deps.JS, p.cfg.Topology), s: s},
		Connectors: factory, Tenants: tenants{p.tenant}, Metrics: metrics.New(), Log: p.cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	s.Syncer = sy
	s.stop = goRun(ctx, func(ctx context.Context) { _ = sy.Run(ctx) })
	return s, nil
}

// Stop stops the syncer and waits until it released its lease.
func (s *Syncer) Stop() { s.stop() }

// goRun runs f until the returned stop is called (or ctx ends), and waits
// for it in stop.
func goRun(ctx context.Context, f func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// counting counts what reached CONTACTS.
type counting struct {
	*contact.Publisher
	s *Syncer
}

func (c *counting) UpsertMany(ctx context.Context, tenantID string, cs []events.Contact) (uint64, error) {
	seq, err := c.Publisher.UpsertMany(ctx, tenantID, cs)
	if err == nil {
		c.s.Upserts.Add(int64(len(cs)))
	}
	return seq, err
}

func (c *counting) Delete(ctx context.Context, tenantID, source, id string) (uint64, error) {
	seq, err := c.Publisher.Delete(ctx, tenantID, source, id)
	if err == nil {
		c.s.Deletes.Add(1)
	}
	return seq, err
}

type tenants []*tenant.Tenant

func (t tenants) Tenants() []*tenant.Tenant { return t }

func (t tenants) Tenant(id string) (*tenant.Tenant, bool) {
	for _, x := range t {
		if x.ID == id {
			return x, true
		}
	}
	return nil, false
}

type phones struct {
	tenant string
	opts   phone.Options
}

func (p phones) PhoneOptions(id string) (phone.Options, bool) { return p.opts, id == p.tenant }

// WaitContacts waits until the index holds n contacts of the tenant.
func (p *Pipeline) WaitContacts(ctx context.Context, n int64) error {
	for {
		st, err := p.Index.Stats(ctx, p.cfg.Tenant)
		if err == nil && st.Contacts == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("index holds %d contacts, want %d", st.Contacts, n), ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
