package pipelinetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/calldex/calldex/services/internal/app"
	"github.com/calldex/calldex/services/internal/app/apptest"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/tenant"
)

// Config configures a Pipeline.
type Config struct {
	// NATSURL and RedisURL are the servers every process uses.
	NATSURL, RedisURL string
	// StreamPrefix and RedisPrefix keep the pipeline's streams, buckets
	// and keys apart from any other; the processes set the streams up.
	StreamPrefix, RedisPrefix string
	// Tenant and Source name the tenant and its sql connector.
	Tenant, Source string
	// Phone are the tenant's phone conventions.
	Phone phone.Options
	// Connector are the connector's options as in the tenant YAML: the sql
	// connector's (driver, dsn, …) and the sync's (syncInterval, rateLimit).
	Connector map[string]any
	// Log receives every process's logs; nil drops them.
	Log *slog.Logger
	// Configure, when set, changes the processes' configuration (from
	// app.DefaultConfig) before they start.
	Configure func(*app.Config)
}

// Pipeline is a running projector process into a Redis index, and the
// means to run sync processes of the source beside it.
type Pipeline struct {
	cfg       Config
	base      app.Config
	tenants   *tenant.Config
	projector *apptest.Process
	// Index is the projector process's index, the one lookups read.
	Index   index.Index
	syncers atomic.Int64
}

// Start starts the projector process.
func Start(ctx context.Context, cfg Config) (*Pipeline, error) {
	tenants, err := tenantConfig(cfg)
	if err != nil {
		return nil, err
	}
	base := app.DefaultConfig()
	base.NATSURL, base.RedisURL, base.RedisPrefix, base.StreamPrefix = cfg.NATSURL, cfg.RedisURL, cfg.RedisPrefix, cfg.StreamPrefix
	if cfg.Configure != nil {
		cfg.Configure(&base)
	}
	p := &Pipeline{cfg: cfg, base: base, tenants: tenants}
	if p.projector, err = p.run(ctx, app.Roles{app.RoleProjector}); err != nil {
		return nil, fmt.Errorf("projector: %w", err)
	}
	p.Index = p.projector.Index
	return p, nil
}

// tenantConfig is the configuration of one tenant whose only connector is
// the sql source.
func tenantConfig(cfg Config) (*tenant.Config, error) {
	token := make([]byte, 16)
	_, _ = rand.Read(token)
	tc := &tenant.Config{Tenants: []tenant.Tenant{{
		ID: cfg.Tenant, Region: cfg.Phone.Region, TailDigits: cfg.Phone.TailDigits,
		Credentials: []tenant.Credential{{Header: "X-Api-Key", Value: hex.EncodeToString(token)}},
		Connectors:  map[string]tenant.Connector{cfg.Source: {Type: "sql", Options: cfg.Connector}},
	}}}
	tc.Admin.Token = hex.EncodeToString(token)
	if err := tc.Validate(); err != nil {
		return nil, fmt.Errorf("tenant config: %w", err)
	}
	return tc, nil
}

func (p *Pipeline) run(ctx context.Context, roles app.Roles, opts ...app.Option) (*apptest.Process, error) {
	cfg := p.base
	cfg.Roles = roles
	opts = append(opts, app.WithTenants(p.tenants))
	if p.cfg.Log != nil {
		opts = append(opts, app.WithLogger(p.cfg.Log.With("roles", roles.String())))
	}
	return apptest.Run(ctx, cfg, opts...)
}

// Close stops the projector process.
func (p *Pipeline) Close() error { return p.projector.Stop() }

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

// Syncer is one running sync process (one replica) of the source.
type Syncer struct {
	*apptest.Process
	tenant, source string
}

// StartSyncer starts a sync process with an owner of its own.
func (p *Pipeline) StartSyncer(ctx context.Context) (*Syncer, error) {
	owner := fmt.Sprintf("pipelinetest-%d", p.syncers.Add(1))
	proc, err := p.run(ctx, app.Roles{app.RoleSync}, app.WithSyncOwner(owner))
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", owner, err)
	}
	return &Syncer{Process: proc, tenant: p.cfg.Tenant, source: p.cfg.Source}, nil
}

// SyncNow asks the process to poll the source at once.
func (s *Syncer) SyncNow(ctx context.Context) error {
	return s.App.Syncer.SyncNow(ctx, s.tenant, s.source)
}

// Upserts counts the contact upserts the process published and had acked
// (calldex_sync_contacts_total{op="upsert"}).
func (s *Syncer) Upserts() (int64, error) { return s.published("upsert") }

// Deletes counts the contact deletes the process published and had acked
// (calldex_sync_contacts_total{op="delete"}).
func (s *Syncer) Deletes() (int64, error) { return s.published("delete") }

// Leading reports whether the process holds the source's lease
// (calldex_sync_leader): from then on it reads the source.
func (s *Syncer) Leading() (bool, error) {
	v, err := s.metric(s.Metrics.SyncLeader, map[string]string{"tenant": s.tenant, "source": s.source})
	return v == 1, err
}

// published reads the process's calldex_sync_contacts_total of the source
// and op, as /metrics serves it.
func (s *Syncer) published(op string) (int64, error) {
	v, err := s.metric(s.Metrics.SyncContacts, map[string]string{"tenant": s.tenant, "source": s.source, "op": op})
	return int64(v), err
}

// metric reads the value of the counter or gauge of c with the given
// labels; 0 when there is none (nothing counted yet). It collects c alone:
// a benchmark polls it, and gathering the whole registry reads /proc.
func (s *Syncer) metric(c prometheus.Collector, labels map[string]string) (float64, error) {
	ch := make(chan prometheus.Metric, 16)
	go func() { c.Collect(ch); close(ch) }()
	var (
		v   float64
		err error
	)
	for m := range ch {
		var d dto.Metric
		if e := m.Write(&d); e != nil {
			err = fmt.Errorf("read metric: %w", e)
			continue
		}
		match := 0
		for _, l := range d.GetLabel() {
			if labels[l.GetName()] == l.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		if d.Counter != nil {
			v = d.Counter.GetValue()
		} else {
			v = d.Gauge.GetValue()
		}
	}
	return v, err
}
