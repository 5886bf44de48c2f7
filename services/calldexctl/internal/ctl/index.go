package ctl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redisx"
	"github.com/calldex/calldex/shared/tenant"
)

func indexCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "index",
		Short: "The Redis contact index: rebuild from CONTACTS, stats, gc",
		Long: `The Redis index is a projection of the CONTACTS stream. Each tenant is served
from one generation of keys. A rebuild writes a new generation beside the
served one, from the stream, while lookups keep being answered from the old
one; once it has caught up with the stream it switches the tenant to the new
generation in one atomic step, and every calldex/ingress process follows
within milliseconds (pub/sub) or seconds (periodic refresh). The projector
follows too, and replays the few events published since the rebuild read
them. A rebuild that dies leaves the old generation serving; its leftover is
dropped by the next rebuild or by index gc, as are retired generations once
no process can still be reading them (--grace).`,
	}
	c.AddCommand(rebuildCmd(a), indexStatsCmd(a), indexGCCmd(a))
	return c
}

type rebuildOptions struct {
	tenants []string
	grace   time.Duration
	stale   time.Duration
	bulk    int
}

// rebuildReport is what index rebuild did, per tenant.
type rebuildReport struct {
	Tenants []rebuiltTenant `json:"tenants"`
	// Stopped is the tenant whose rebuild failed or was interrupted.
	Stopped *rebuildStop `json:"stopped,omitempty"`
}

type rebuiltTenant struct {
	projector.RebuildResult
	Before index.Stats `json:"before"`
}

type rebuildStop struct {
	Tenant      string `json:"tenant"`
	Events      uint64 `json:"events"`
	Total       uint64 `json:"total"`
	Serving     string `json:"serving"`
	Interrupted bool   `json:"interrupted,omitempty"`
	Error       string `json:"error,omitempty"`
}

func rebuildCmd(a *app) *cobra.Command {
	var o rebuildOptions
	c := &cobra.Command{
		Use:   "rebuild [--tenant T]",
		Short: "Rebuild the Redis index from CONTACTS beside the served data, then switch",
		Long: `Rebuilds each tenant (every tenant of CALLDEX_CONFIG, or --tenant) from the
CONTACTS stream into a new generation of keys, with a progress bar, while
lookups keep being answered from the current one; then switches the tenant
to it at once. Needs REDIS_URL, NATS and the tenants configuration (phone
conventions). Ctrl-C stops the running tenant's rebuild: its partial
generation is removed and the current one keeps serving.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.rebuild(cmd.Context(), o)
		},
	}
	c.Flags().StringSliceVar(&o.tenants, "tenant", nil, "rebuild only these tenants (repeat, or comma-separated)")
	c.Flags().DurationVar(&o.grace, "grace", time.Minute, "keep a retired generation this long before gc drops it")
	c.Flags().DurationVar(&o.stale, "stale", time.Minute, "a build without heartbeat this long is dead")
	c.Flags().IntVar(&o.bulk, "bulk", 1_000_000, "load up to this many contacts of a tenant in bulk, holding ~150 bytes of each in memory (~650 while writing their phone keys and names); the rest are written one batch at a time, 2-3 times slower")
	return c
}

// rebuildTenants resolves which tenants to work on, and their settings.
func selectTenants(cfg *tenant.Config, names []string) ([]*tenant.Tenant, error) {
	reg := tenant.NewRegistry(cfg)
	if len(names) == 0 {
		out := make([]*tenant.Tenant, len(cfg.Tenants))
		for i := range cfg.Tenants {
			out[i] = &cfg.Tenants[i]
		}
		return out, nil
	}
	var out []*tenant.Tenant
	for _, n := range names {
		t, ok := reg.Tenant(n)
		if !ok {
			return nil, usagef("tenant %q is not in the configuration", n)
		}
		out = append(out, t)
	}
	return out, nil
}

func (a *app) rebuild(ctx context.Context, o rebuildOptions) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	tenants, err := selectTenants(cfg, o.tenants)
	if err != nil {
		return err
	}
	ix, err := a.index(ctx)
	if err != nil {
		return err
	}
	js, err := a.jetstream()
	if err != nil {
		return err
	}
	rep := rebuildReport{Tenants: []rebuiltTenant{}}
	var runErr error
	for _, t := range tenants {
		before, err := ix.Stats(ctx, t.ID)
		if err != nil {
			runErr = err
			rep.Stopped = &rebuildStop{Tenant: t.ID, Serving: ix.Served(t.ID), Error: err.Error()}
			break
		}
		bar := a.progress("rebuild "+t.ID, "events")
		var last projector.RebuildProgress
		res, err := projector.Rebuild(ctx, projector.RebuildConfig{
			Topology: a.topo(), Tenant: t.ID, Phone: t.PhoneOptions(), Grace: o.grace, StaleAfter: o.stale, Bulk: o.bulk,
			Progress: func(p projector.RebuildProgress) {
				last = p
				bar.Update(int64(p.Events), int64(p.Total))
			},
		}, js, ix)
		bar.Finish()
		if err != nil {
			runErr = err
			stop := &rebuildStop{Tenant: t.ID, Events: last.Events, Total: last.Total, Serving: ix.Served(t.ID)}
			if ctx.Err() != nil {
				stop.Interrupted = true
			} else {
				stop.Error = err.Error()
			}
			rep.Stopped = stop
			break
		}
		rep.Tenants = append(rep.Tenants, rebuiltTenant{RebuildResult: res, Before: before})
		if !a.opts.json {
			a.printRebuilt(rep.Tenants[len(rep.Tenants)-1], o.grace)
		}
	}
	if a.opts.json {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else if s := rep.Stopped; s != nil {
		what := "interrupted"
		if !s.Interrupted {
			what = "failed: " + s.Error
		}
		a.printf("%s: rebuild %s after %s of %s events; %s still serves (the partial generation was removed)\n",
			s.Tenant, what, count(int64(s.Events)), count(int64(s.Total)), genName(s.Serving))
		if left := len(tenants) - len(rep.Tenants) - 1; left > 0 {
			a.printf("%d tenant(s) after it not rebuilt\n", left)
		}
	}
	if rep.Stopped != nil && rep.Stopped.Interrupted {
		return errInterrupted
	}
	return runErr
}

func genName(id string) string { return index.Generation{ID: id}.Name() }

func (a *app) printRebuilt(r rebuiltTenant, grace time.Duration) {
	a.printf("%s: now served from generation %s (was %s): %s events up to seq %d in %s\n",
		r.Tenant, r.Generation, genName(r.Previous), count(int64(r.Events)), r.Seq, r.Took.Round(time.Millisecond))
	a.printf("  contacts %s → %s, phone keys %s → %s\n", count(r.Before.Contacts), count(r.Stats.Contacts), count(r.Before.Keys), count(r.Stats.Keys))
	for _, d := range r.Collected {
		a.printf("  dropped leftover generation %s (%s, %s keys)\n", d.Name(), d.Reason, count(d.Keys))
	}
	a.printf("  generation %s is dropped by the next rebuild or index gc after %s\n", genName(r.Previous), grace)
}

// tenantStats is one tenant in index stats.
type tenantStats struct {
	Tenant      string             `json:"tenant"`
	Served      string             `json:"served"`
	Stats       index.Stats        `json:"stats"`
	Generations []index.Generation `json:"generations"`
}

type indexStats struct {
	Tenants []tenantStats `json:"tenants"`
	// Checkpoint is the last CONTACTS sequence the projector applied;
	// StreamLastSeq the stream's last (absent when NATS is unreachable).
	Checkpoint    uint64 `json:"checkpoint"`
	StreamLastSeq uint64 `json:"streamLastSeq,omitempty"`
	Lag           uint64 `json:"lag,omitempty"`
}

func indexStatsCmd(a *app) *cobra.Command {
	var tenants []string
	c := &cobra.Command{
		Use:   "stats [--tenant T]",
		Short: "Contacts and phone keys per tenant, generations, projector position",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.indexStats(cmd.Context(), tenants)
		},
	}
	c.Flags().StringSliceVar(&tenants, "tenant", nil, "only these tenants (default: the configuration's, else every tenant found)")
	return c
}

func (a *app) indexStats(ctx context.Context, tenants []string) error {
	ix, err := a.index(ctx)
	if err != nil {
		return err
	}
	if len(tenants) == 0 {
		if tenants, err = a.indexTenants(ctx); err != nil {
			return err
		}
	}
	out := indexStats{Tenants: []tenantStats{}}
	for _, t := range tenants {
		st, err := ix.Stats(ctx, t)
		if err != nil {
			return err
		}
		gens, err := ix.Generations(ctx, t)
		if err != nil {
			return err
		}
		out.Tenants = append(out.Tenants, tenantStats{Tenant: t, Served: ix.Served(t), Stats: st, Generations: gens})
	}
	stream := a.topo().Stream(events.StreamContacts)
	cp, err := projector.NewRedis(a.rdb, a.opts.redisPrefix, stream).Load(ctx)
	if err != nil {
		return err
	}
	out.Checkpoint = cp
	if js, err := a.jetstream(); err == nil {
		rctx, cancel := a.reqCtx(ctx)
		if s, err := js.Stream(rctx, stream); err == nil {
			out.StreamLastSeq = s.CachedInfo().State.LastSeq
			if out.StreamLastSeq > cp {
				out.Lag = out.StreamLastSeq - cp
			}
		}
		cancel()
	}
	if a.opts.json {
		return a.printJSON(out)
	}
	w := a.table()
	fmt.Fprintln(w, "TENANT\tSERVED FROM\tCONTACTS\tPHONE KEYS\tGENERATIONS")
	for _, t := range out.Tenants {
		var gens []string
		for _, g := range t.Generations {
			s := g.Name() + " " + g.State
			if g.Seq > 0 {
				s += fmt.Sprintf(" @%d", g.Seq)
			}
			gens = append(gens, s)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Tenant, genName(t.Served), count(t.Stats.Contacts), count(t.Stats.Keys), strings.Join(gens, ", "))
	}
	w.Flush()
	if out.StreamLastSeq > 0 {
		a.printf("projector: applied up to seq %d of %d (%s behind)\n", out.Checkpoint, out.StreamLastSeq, count(int64(out.Lag)))
	} else {
		a.printf("projector: applied up to seq %d\n", out.Checkpoint)
	}
	return nil
}

// indexTenants lists the tenants to report: the configuration's when there
// is one, else every tenant with keys in Redis.
func (a *app) indexTenants(ctx context.Context) ([]string, error) {
	if a.opts.config != "" {
		cfg, err := a.config()
		if err != nil {
			return nil, err
		}
		var out []string
		for _, t := range cfg.Tenants {
			out = append(out, t.ID)
		}
		return out, nil
	}
	seen := map[string]bool{}
	err := redisx.Scan(ctx, a.rdb, escapeGlob(a.opts.redisPrefix)+":*}:recs", func(k string) {
		if i, j := strings.LastIndexByte(k, '{'), strings.LastIndexByte(k, '}'); i >= 0 && j > i {
			seen[k[i+1:j]] = true
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	slices.Sort(out)
	return out, nil
}

func escapeGlob(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(s)
}

func indexGCCmd(a *app) *cobra.Command {
	var o index.GCOptions
	c := &cobra.Command{
		Use:   "gc [--tenant T]",
		Short: "Drop generations no process reads: retired ones after --grace, dead builds after --stale",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ix, err := a.index(cmd.Context())
			if err != nil {
				return err
			}
			dropped, err := ix.GC(cmd.Context(), o)
			if err != nil {
				return err
			}
			if dropped == nil {
				dropped = []index.Dropped{}
			}
			if a.opts.json {
				return a.printJSON(map[string]any{"dropped": dropped, "dryRun": o.DryRun})
			}
			verb := "dropped"
			if o.DryRun {
				verb = "would drop"
			}
			if len(dropped) == 0 {
				a.printf("nothing to drop\n")
			}
			for _, d := range dropped {
				if o.DryRun {
					a.printf("%s %s generation %s: %s\n", verb, d.Tenant, d.Name(), d.Reason)
				} else {
					a.printf("%s %s generation %s: %s (%s keys)\n", verb, d.Tenant, d.Name(), d.Reason, count(d.Keys))
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&o.Tenant, "tenant", "", "only this tenant")
	c.Flags().DurationVar(&o.Grace, "grace", time.Minute, "drop retired generations retired this long ago")
	c.Flags().DurationVar(&o.Stale, "stale", time.Minute, "drop builds without heartbeat this long")
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "list what would be dropped")
	return c
}
