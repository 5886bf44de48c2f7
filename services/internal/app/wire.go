package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crmsync"
	"github.com/calldex/calldex/workflows/dispatch"
)

// appConnect builds the App Connect connector server and returns it with
// its call log store (which erasures reach too).
func appConnect(ctx context.Context, secret string, js jetstream.JetStream, topo events.Topology, reg *tenant.Registry,
	look *lookup.Recorder, idx index.Index, contacts *contact.Publisher, proj appconnect.Projection,
	disp *dispatch.Dispatcher, f *connectors.Factory, guard *authguard.Guard, log *slog.Logger) (http.Handler, *appconnect.KVCallLogs, error) {
	cfg := appconnect.Config{Secret: secret, Tenants: map[string]appconnect.TenantOptions{}}
	for _, t := range reg.Tenants() {
		opts, err := appconnect.DecodeTenantOptions(t.AppConnect)
		if err != nil {
			return nil, nil, fmt.Errorf("tenant %s: appConnect: %w", t.ID, err)
		}
		cfg.Tenants[t.ID] = opts
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("app connect: %w", err)
	}
	revocations, callLogs, err := appconnect.KVStores(ctx, js, topo, cfg.TokenTTL)
	if err != nil {
		return nil, nil, err
	}
	h, err := appconnect.New(cfg, appconnect.Deps{
		Tenants: reg, Lookup: look, Names: idx, Contacts: contacts, Projection: proj,
		Workflows:   disp,
		Revocations: revocations, CallLogs: callLogs,
		Connectors: appconnect.ConnectorsFunc(func(ctx context.Context, tid, name string) (appconnect.CRM, error) {
			t, ok := reg.Tenant(tid)
			if !ok {
				return nil, fmt.Errorf("unknown tenant %s", tid)
			}
			c, err := f.Connector(ctx, tid, name, t.Connectors[name])
			if err != nil {
				return nil, err
			}
			return c, nil
		}),
		Guard: guard, Log: log,
	})
	return h, callLogs, err
}

// fallbackSources gives each tenant's live phone sources (tenant.Fallback).
type fallbackSources struct {
	f   *connectors.Factory
	log *slog.Logger
}

func (s fallbackSources) PhoneSources(ctx context.Context, t *tenant.Tenant) map[string]lookup.PhoneSource {
	if len(t.Fallback.Sources) == 0 {
		return nil
	}
	out := make(map[string]lookup.PhoneSource, len(t.Fallback.Sources))
	for _, name := range t.Fallback.Sources {
		c, err := s.f.Connector(ctx, t.ID, name, t.Connectors[name])
		if err != nil {
			s.log.Warn("fallback source unavailable", "tenant", t.ID, "source", name, "err", err)
			continue
		}
		if ps, ok := c.PhoneSearcher(); ok {
			out[name] = ps
		} else {
			s.log.Warn("fallback source cannot search by phone", "tenant", t.ID, "source", name, "type", c.Type)
		}
	}
	return out
}

// sourceStatuses reads a tenant's sync sources from the sync_cursors
// bucket: its connectors that can list changes.
type sourceStatuses struct {
	kv      jetstream.KeyValue
	cfg     crmsync.Config
	factory *connectors.Factory
}

func (s sourceStatuses) SourceStatuses(ctx context.Context, t *tenant.Tenant) ([]crmsync.Status, error) {
	return crmsync.Statuses(ctx, s.kv, s.cfg, t, func(c tenant.Connector) bool {
		caps, err := s.factory.Check(c)
		return err == nil && caps.ListChanges
	})
}
