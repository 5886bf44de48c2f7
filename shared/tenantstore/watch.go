package tenantstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/calldex/calldex/shared/tenant"
)

// Applier takes tenant changes (*tenant.Registry).
type Applier interface {
	Replace(ts []*tenant.Tenant)
	Apply(put []*tenant.Tenant, remove []string)
}

var _ Applier = (*tenant.Registry)(nil)

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Getenv resolves the ${VAR} references of connector options. Default:
	// nothing is set (${file:…} references still work).
	Getenv func(string) (string, bool)
	// OnChange, when set, is called after the registry shows a change,
	// with the ids of the tenants put or removed: the place to drop their
	// connectors (connectors.Factory.Invalidate) or sync sources.
	OnChange func(ids []string)
	// RetryWait is the wait before watching again after the watch broke.
	// Default 1s.
	RetryWait time.Duration
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Watcher keeps a registry equal to the bucket.
type Watcher struct {
	kv     jetstream.KeyValue
	reg    Applier
	cfg    WatchConfig
	synced chan struct{}
	// revs is the revision applied per tenant id.
	revs map[string]uint64
}

// NewWatcher returns a Watcher of the tenants bucket that applies to reg.
func NewWatcher(kv jetstream.KeyValue, reg Applier, cfg WatchConfig) *Watcher {
	if cfg.Getenv == nil {
		cfg.Getenv = func(string) (string, bool) { return "", false }
	}
	if cfg.RetryWait == 0 {
		cfg.RetryWait = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Watcher{kv: kv, reg: reg, cfg: cfg, synced: make(chan struct{}), revs: map[string]uint64{}}
}

// Synced is closed once the registry holds the whole bucket for the
// first time: a replica answers lookups after it.
func (w *Watcher) Synced() <-chan struct{} { return w.synced }

// Run applies the bucket to the registry until ctx ends: the whole bucket
// at once (Replace), then each change as it comes, changes that arrive
// together in one Apply. A broken watch is started again, and the whole
// bucket applied again. It returns nil once ctx ended.
func (w *Watcher) Run(ctx context.Context) error {
	for {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.cfg.Log.Warn("tenants: watch broke; watching again", "err", err, "in", w.cfg.RetryWait)
		t := time.NewTimer(w.cfg.RetryWait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) watch(ctx context.Context) error {
	kw, err := w.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch tenants: %w", err)
	}
	defer func() { _ = kw.Stop() }()
	updates := kw.Updates()
	initial := map[string]jetstream.KeyValueEntry{}
	for e := range updates {
		if e != nil {
			initial[e.Key()] = e
			continue
		}
		w.replace(initial)
		break
	}
	for e := range updates {
		batch := []jetstream.KeyValueEntry{e}
	drain:
		for {
			select {
			case more, ok := <-updates:
				if !ok {
					break drain
				}
				batch = append(batch, more)
			default:
				break drain
			}
		}
		w.apply(batch)
	}
	return errors.New("watch of tenants ended")
}

// replace applies the whole bucket.
func (w *Watcher) replace(entries map[string]jetstream.KeyValueEntry) {
	var all []*tenant.Tenant
	var changed []string
	revs := make(map[string]uint64, len(entries))
	for _, id := range slices.Sorted(maps.Keys(entries)) {
		e := entries[id]
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		t, ok := w.load(e)
		if !ok {
			continue
		}
		all = append(all, t)
		revs[id] = e.Revision()
		if w.revs[id] != e.Revision() {
			changed = append(changed, id)
		}
	}
	for id := range w.revs {
		if _, ok := revs[id]; !ok {
			changed = append(changed, id)
		}
	}
	w.revs = revs
	w.reg.Replace(all)
	select {
	case <-w.synced:
	default:
		close(w.synced)
		w.cfg.Log.Info("tenants loaded from the store", "tenants", len(all))
	}
	w.changed(changed)
}

// apply applies changes that came together, the last of each key.
func (w *Watcher) apply(batch []jetstream.KeyValueEntry) {
	last := map[string]jetstream.KeyValueEntry{}
	for _, e := range batch {
		if e != nil {
			last[e.Key()] = e
		}
	}
	var put []*tenant.Tenant
	var remove, changed []string
	for _, id := range slices.Sorted(maps.Keys(last)) {
		e := last[id]
		if e.Operation() != jetstream.KeyValuePut {
			remove = append(remove, id)
			delete(w.revs, id)
			changed = append(changed, id)
			w.cfg.Log.Info("tenant removed", "tenant", id)
			continue
		}
		t, ok := w.load(e)
		if !ok {
			continue
		}
		put = append(put, t)
		w.revs[id] = e.Revision()
		changed = append(changed, id)
		w.cfg.Log.Info("tenant applied", "tenant", id, "revision", e.Revision())
	}
	w.reg.Apply(put, remove)
	w.changed(changed)
}

func (w *Watcher) changed(ids []string) {
	if len(ids) > 0 && w.cfg.OnChange != nil {
		w.cfg.OnChange(ids)
	}
}

// load decodes and validates a stored tenant and resolves its connector
// secrets. A tenant that does not validate is not applied (the previous
// version stays); a secret that cannot be resolved is logged, and the
// tenant applied: its credentials work, the connector fails to build.
func (w *Watcher) load(e jetstream.KeyValueEntry) (*tenant.Tenant, bool) {
	t, err := decode(e.Value())
	if err == nil && t.ID != e.Key() {
		err = fmt.Errorf("id %q under key %q", t.ID, e.Key())
	}
	if err != nil {
		w.cfg.Log.Error("tenants: stored tenant unreadable; not applied", "tenant", e.Key(), "err", err)
		return nil, false
	}
	if ps := tenant.ValidateTenant(&t); len(ps) > 0 {
		w.cfg.Log.Error("tenants: stored tenant invalid; not applied", "tenant", t.ID, "problems", (&InvalidError{ID: t.ID, Problems: ps}).Error())
		return nil, false
	}
	if err := tenant.ResolveSecrets(&t, w.cfg.Getenv); err != nil {
		w.cfg.Log.Error("tenants: connector secret not resolved", "tenant", t.ID, "err", err)
	}
	return &t, true
}
