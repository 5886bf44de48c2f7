// Package app is Calldex's one composition root: Build turns a Config into
// every part the configured roles need, Run starts them in dependency order
// and stops them in reverse. The calldex binary, the load tools and the
// end-to-end tests build the service graph here and nowhere else.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/appconnect"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/clientaddr"
	"github.com/calldex/calldex/services/internal/console"
	"github.com/calldex/calldex/services/internal/crmhooks"
	"github.com/calldex/calldex/services/internal/erasure"
	"github.com/calldex/calldex/services/internal/ingress"
	"github.com/calldex/calldex/services/internal/tenantadmin"
	"github.com/calldex/calldex/services/internal/tenantcheck"
	"github.com/calldex/calldex/shared/audit"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/eventpub"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/natsx"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/projector"
	"github.com/calldex/calldex/shared/redisx"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crmsync"
	"github.com/calldex/calldex/workflows/deadletter"
	"github.com/calldex/calldex/workflows/dispatch"
	"github.com/calldex/calldex/workflows/riskfeed"
	"github.com/calldex/calldex/workflows/worker"
)

// Option changes what Build uses instead of what Config names; tests and
// load tools use them.
type Option func(*options)

type options struct {
	tenants *tenant.Config
	log     *slog.Logger
	ready   func(httpAddr, natsURL string)
	index   index.Index
	owner   string
}

// WithTenants uses cfg instead of reading Config.TenantsFile.
func WithTenants(cfg *tenant.Config) Option { return func(o *options) { o.tenants = cfg } }

// WithLogger logs to log instead of slog.Default().
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// WithReady calls fn with the bound HTTP address and the NATS URL once the
// process serves.
func WithReady(fn func(httpAddr, natsURL string)) Option { return func(o *options) { o.ready = fn } }

// WithIndex serves lookups from idx instead of the index Config selects
// (load tools measure an index filled beforehand).
func WithIndex(idx index.Index) Option { return func(o *options) { o.index = idx } }

// WithSyncOwner names this process in the sync leases (default: host and pid).
func WithSyncOwner(owner string) Option { return func(o *options) { o.owner = owner } }

// part is something that runs until its context ends.
type part struct {
	name string
	run  func(ctx context.Context) error
}

// App is a built Calldex process: Run it once.
type App struct {
	cfg     Config
	opts    options
	demo    bool
	log     *slog.Logger
	natsURL string
	ln      net.Listener
	http    *http.Server
	// parts start in order and stop in reverse, after the HTTP server.
	parts []part
	// afterHTTP close once the HTTP server has drained (the dispatcher's
	// waiters); closers release connections once every part has stopped,
	// in reverse order of acquisition.
	afterHTTP []func()
	closers   []func()
	// rdb is the Redis of the index, nil with the in-process one.
	rdb redis.UniversalClient

	// Tenants is the tenants file this process started with (admin token,
	// bootstrap tenants); the tenants in force are the store's.
	Tenants *tenant.Config
	// syncer is Syncer for the tenant watcher, which may call it from
	// its goroutine.
	syncer atomic.Pointer[crmsync.Syncer]
	// Syncer is the CRM sync of the sync role, nil without it.
	Syncer *crmsync.Syncer
	// Metrics are the process's collectors (what /metrics serves).
	Metrics *metrics.Metrics
	// Index is the contact index, nil unless the ingress or projector role runs.
	Index index.Index
	// Projector is the CONTACTS projector, nil unless the ingress or
	// projector role runs (it runs only with the projector role).
	Projector *projector.Projector
}

// Build creates every part the roles need. On error it releases what it
// had acquired.
func Build(ctx context.Context, cfg Config, opt ...Option) (_ *App, err error) {
	a := &App{cfg: cfg}
	for _, o := range opt {
		o(&a.opts)
	}
	a.log = a.opts.log
	if a.log == nil {
		a.log = slog.Default()
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	a.demo = (cfg.Demo() || isDemoFile(cfg.TenantsFile)) && a.opts.tenants == nil
	if a.demo && !cfg.Demo() {
		a.log.Info("CALLDEX_CONFIG is the demo configuration: running the demo", "file", cfg.TenantsFile)
	}
	boot, err := a.loadTenants()
	if err != nil {
		return nil, err
	}
	a.Tenants = boot.expanded
	roles := cfg.Roles
	topo := events.Topology{Prefix: cfg.StreamPrefix, Replicas: cfg.StreamReplicas, Retention: cfg.Retention}
	m := metrics.New()
	a.Metrics = m

	nc, js, buckets, err := a.openNATS(ctx, topo, m)
	if err != nil {
		return nil, err
	}
	factory, err := connectors.New(connectors.Config{}, connectors.Deps{HTTP: connectors.NewHTTPClient(connectors.HTTPConfig{})})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = factory.Close() })
	reg, store, err := a.openTenants(ctx, js, topo, boot, factory)
	if err != nil {
		return nil, err
	}
	contacts := contact.NewPublisher(js, topo)

	var idx index.Index
	var proj *projector.Projector
	var ready *projector.Readiness
	checks := []ingress.Check{{Name: "nats", Fn: func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}}}
	if roles.Has(RoleIngress) || roles.Has(RoleProjector) {
		var cp projector.Checkpoint
		var ping func(context.Context) error
		if idx, cp, ping, err = a.openIndex(ctx, topo); err != nil {
			return nil, err
		}
		checks = append(checks, ingress.Check{Name: "index", Fn: ping})
		if proj, err = projector.New(projector.Config{Topology: topo, Bulk: a.cfg.ProjectorBulk}, js, idx, phoneOptions{reg}, cp, a.log); err != nil {
			return nil, err
		}
		a.Index, a.Projector = idx, proj
		// Readiness reads the checkpoint the projector keeps beside the
		// index against the stream's current end: the same answer in the
		// projector's process and in a replica without one, and no after
		// the index lost its data.
		ready = projector.NewReadiness(js, topo, cp)
		checks = append(checks, ingress.Check{Name: "projection", Fn: ready.Ready})
		if a.demo && roles.Has(RoleIngress) {
			// Before the projector starts, so that readiness includes them.
			if err := seed(ctx, js, topo, contacts, DemoTenant, cfg.DemoContacts, a.log); err != nil {
				return nil, err
			}
		}
	}

	var riskStore risk.Store
	if cfg.Risk && idx != nil {
		if riskStore, err = a.openRisk(js, reg, topo); err != nil {
			return nil, err
		}
	}

	var pub *eventpub.Async
	if roles.Has(RoleIngress) {
		pub = eventpub.New(js, 8192, m.EventsDropped.WithLabelValues(events.StreamCalls), m.EventsFailed.WithLabelValues(events.StreamCalls), a.log)
		a.parts = append(a.parts, part{"event publisher", pub.Run})
	}
	if roles.Has(RoleProjector) {
		a.parts = append(a.parts, part{"projector", proj.Run})
		m.Gauge("calldex_projection_pending_messages", "CONTACTS messages the index does not hold yet.", func() float64 {
			return scrape(func(ctx context.Context) (uint64, error) { return ready.Pending(ctx) })
		})
	}
	if roles.Has(RoleSync) {
		owner := a.opts.owner
		if owner == "" {
			host, _ := os.Hostname()
			owner = host + "-" + strconv.Itoa(os.Getpid())
		}
		if a.Syncer, err = crmsync.New(crmsync.Config{Topology: topo, Owner: owner}, crmsync.Deps{
			JS: js, Cursors: buckets.SyncCursors, Contacts: contacts, Connectors: factory, Tenants: reg, Metrics: m, Log: a.log,
		}); err != nil {
			return nil, err
		}
		a.syncer.Store(a.Syncer)
		// Run releases the leases before it returns, while NATS is still up.
		a.parts = append(a.parts, part{"sync", a.Syncer.Run})
	}
	if roles.Has(RoleWorker) {
		w, err := a.newWorker(js, topo, buckets, reg, factory)
		if err != nil {
			return nil, err
		}
		a.parts = append(a.parts, part{"worker", w.Run})
		dlq := topo.Stream(events.StreamDLQ)
		m.Gauge("calldex_dlq_messages", "Messages in the DLQ stream.", func() float64 {
			return scrape(func(ctx context.Context) (uint64, error) {
				s, err := js.Stream(ctx, dlq)
				if err != nil {
					return 0, err
				}
				return s.CachedInfo().State.Msgs, nil
			})
		})
	}
	m.GaugesFunc("calldex_breaker_state", "Circuit breaker of each connector in use: 0 closed, 1 open, 2 half-open.", []string{"tenant", "connector"},
		func(set func(float64, ...string)) {
			factory.EachBreaker(func(tenant, name string, state breaker.State) { set(float64(state), tenant, name) })
		})
	if cfg.PprofAddr != "" {
		a.parts = append(a.parts, part{"pprof", func(ctx context.Context) error { return ServePprof(ctx, cfg.PprofAddr, a.log) }})
	}

	var handler http.Handler
	if roles.Has(RoleIngress) {
		if handler, err = a.ingress(ctx, ingressParts{
			topo: topo, js: js, buckets: buckets, reg: reg, store: store, idx: idx, proj: proj, ready: ready, contacts: contacts,
			pub: pub, factory: factory, m: m, checks: checks, risk: riskStore,
		}); err != nil {
			return nil, err
		}
	} else {
		handler = ingress.Ops(m, checks)
	}
	if a.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	clients, err := clientaddr.New(cfg.clientAddr())
	if err != nil {
		return nil, err
	}
	a.http = &http.Server{Handler: clients.Middleware(handler), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	return a, nil
}

// ingressParts are what the ingress role is built on.
type ingressParts struct {
	topo     events.Topology
	js       jetstream.JetStream
	buckets  natsx.Buckets
	reg      *tenant.Registry
	store    *tenantstore.Store
	idx      index.Index
	proj     *projector.Projector
	ready    *projector.Readiness
	contacts *contact.Publisher
	pub      *eventpub.Async
	factory  *connectors.Factory
	m        *metrics.Metrics
	checks   []ingress.Check
	// risk is nil when caller risk is off.
	risk risk.Store
}

func (a *App) ingress(ctx context.Context, p ingressParts) (http.Handler, error) {
	disp := dispatch.New(p.js, p.buckets.WorkflowResults, p.topo)
	a.afterHTTP = append(a.afterHTTP, func() { _ = disp.Close() })
	svc := lookup.New(p.idx).WithFallback(lookup.FallbackConfig{}, fallbackSources{p.factory, a.log}, p.contacts, a.log)
	if p.risk != nil {
		cache := risk.NewCache(p.risk, risk.CacheConfig{}, a.log)
		a.parts = append(a.parts, part{"risk cache", cache.Run})
		svc.WithRisk(cache)
	}
	look := lookup.NewRecorder(svc, p.m, p.pub, p.topo, a.log)
	if mem, ok := p.risk.(*risk.Memory); ok && a.countsLookupRisk() {
		look.CountRisk(mem)
	}
	guard, err := authguard.New(authguard.Config{MaxFailures: a.cfg.AuthMaxFailures, MaxTenantFailures: 10 * a.cfg.AuthMaxFailures,
		Window: a.cfg.AuthWindow}, p.m.AuthFailures, a.log)
	if err != nil {
		return nil, err
	}
	var ac http.Handler
	var callLogs erasure.CallLogs
	secret := a.cfg.AppConnectSecret
	if secret == "" && a.demo {
		secret = DemoAppConnectSecret
	}
	if secret != "" {
		var logs *appconnect.KVCallLogs
		if ac, logs, err = appConnect(ctx, secret, p.js, p.topo, p.reg, look, p.idx, p.contacts, a.projection(p), disp, p.factory, guard, a.log); err != nil {
			return nil, err
		}
		callLogs = logs
	}
	eraser, err := erasure.New(erasure.Deps{Index: p.idx, Contacts: p.contacts, Projection: p.proj, JS: p.js, Topology: p.topo,
		Results: p.buckets.WorkflowResults, CallLogs: callLogs, Risk: eraserRisk(p.risk)})
	if err != nil {
		return nil, err
	}
	// Without the sync role here, webhooks and resyncs ask the sync
	// replicas through the sync_cursors bucket.
	requests := crmsync.NewRequests(p.buckets.SyncCursors)
	var trigger crmhooks.Trigger = requests
	if a.Syncer != nil {
		trigger = a.Syncer
	}
	auditor := audit.New(p.js, p.topo)
	hooks, err := crmhooks.New(crmhooks.Config{}, crmhooks.Deps{Tenants: p.reg, Trigger: trigger, Contacts: p.contacts, Metrics: p.m, Guard: guard, Log: a.log})
	if err != nil {
		return nil, err
	}
	// The console acts through the ingress's own admin routes, which
	// exist once the ingress is built.
	var api http.Handler
	cons, err := console.New(console.Config{SessionTTL: a.cfg.ConsoleSessionTTL}, console.Deps{
		Admin: a.Tenants, Tenants: p.reg, Gatherer: p.m.Registry, Guard: guard, Audit: auditor, Log: a.log,
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) }),
	})
	if err != nil {
		return nil, err
	}
	a.parts = append(a.parts, part{"console sampler", cons.Run})
	srv, err := ingress.New(ingress.Deps{
		TenantAdmin: tenantadmin.New(p.store, a.Tenants, a.log),
		Config:      a.Tenants, Tenants: p.reg, Lookup: look, Contacts: p.contacts,
		Projection: a.projection(p), JS: p.js, Topology: p.topo, Metrics: p.m, Log: a.log,
		Workflows: disp, AppConnect: ac, Webhooks: hooks, Resync: requests, Ready: p.checks, Guard: guard,
		Audit: auditor, Eraser: eraser, Risk: p.risk,
		Names: p.idx, Runs: disp, DeadLetters: deadletter.New(p.js, p.topo, deadletter.Config{}),
		Sources: sourceStatuses{kv: p.buckets.SyncCursors, cfg: crmsync.Config{Topology: p.topo}, factory: p.factory},
		Console: cons,
	})
	if err != nil {
		return nil, err
	}
	api = srv
	return srv, nil
}

// projection is what admin writes wait on: the projector itself when it
// runs in this process, else the checkpoint it keeps in the shared index.
func (a *App) projection(p ingressParts) ingress.Projection {
	if a.cfg.Roles.Has(RoleProjector) {
		return p.proj
	}
	return p.ready
}

// scrape reads a gauge's value within a scrape's patience; a value that
// cannot be read is NaN, which Prometheus shows as a gap.
func scrape(read func(ctx context.Context) (uint64, error)) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	v, err := read(ctx)
	if err != nil {
		return math.NaN()
	}
	return float64(v)
}

// Run serves until ctx ends or a part fails, then stops everything in
// reverse dependency order: the HTTP server drains its requests, the
// dispatcher stops waiting, the worker finishes its CRM calls in flight,
// the sync releases its leases, the projector stops, the event publisher
// flushes, and only then NATS and Redis close.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	failed := make(chan error, len(a.parts)+1)
	type running struct {
		name string
		stop context.CancelFunc
		done chan struct{}
	}
	started := make([]running, 0, len(a.parts))
	for _, p := range a.parts {
		pctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		r := running{p.name, stop, make(chan struct{})}
		go func() {
			defer close(r.done)
			err := p.run(pctx)
			if pctx.Err() == nil { // stopped by itself: the process cannot go on
				failed <- fmt.Errorf("%s stopped: %w", p.name, errOrNil(err))
			} else if err != nil && !errors.Is(err, context.Canceled) {
				a.log.Warn("stopped with an error", "part", p.name, "err", err)
			}
		}()
		started = append(started, r)
	}
	go func() {
		if err := a.http.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
			failed <- fmt.Errorf("http: %w", err)
		}
	}()
	a.log.Info("calldex serving", "http", a.ln.Addr().String(), "nats", a.natsURL, "roles", a.cfg.Roles.String())
	if a.opts.ready != nil {
		a.opts.ready(a.ln.Addr().String(), a.natsURL)
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-failed:
		a.log.Error("stopping", "err", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if serr := a.http.Shutdown(stopCtx); serr != nil {
		a.log.Warn("http requests still running at shutdown", "err", serr)
	}
	for _, f := range a.afterHTTP {
		f()
	}
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		r.stop()
		select {
		case <-r.done:
		case <-stopCtx.Done():
			a.log.Warn("did not stop within the shutdown timeout", "part", r.name, "timeout", a.cfg.ShutdownTimeout)
		}
	}
	return err
}

func errOrNil(err error) error {
	if err == nil {
		return errors.New("without an error")
	}
	return err
}

// close releases connections in reverse order of acquisition.
func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// bootTenants is the tenants file as the process read it: expanded (the
// admin token, checks) and with its ${VAR} references kept (what the
// tenants bucket stores).
type bootTenants struct {
	expanded *tenant.Config
	refs     []tenant.Tenant
}

func (a *App) loadTenants() (bootTenants, error) {
	if a.opts.tenants != nil {
		return bootTenants{a.opts.tenants, a.opts.tenants.Tenants}, nil
	}
	what := "CALLDEX_CONFIG " + a.cfg.TenantsFile
	var raw []byte
	if a.demo {
		raw, what = DemoConfig(), "demo config"
	} else {
		var err error
		if raw, err = os.ReadFile(a.cfg.TenantsFile); err != nil {
			return bootTenants{}, fmt.Errorf("%s: %w", what, err)
		}
	}
	expanded, err := tenantcheck.Parse(raw, a.getenv)
	if err != nil {
		return bootTenants{}, fmt.Errorf("%s: %w", what, err)
	}
	refs, err := tenant.Parse(raw, tenant.KeepRefs)
	if err != nil {
		return bootTenants{}, fmt.Errorf("%s: %w", what, err)
	}
	return bootTenants{expanded, refs.Tenants}, nil
}

// Demo reports whether this process runs the demo: no CALLDEX_CONFIG, or
// one equal to the demo's.
func (a *App) Demo() bool { return a.demo }

// getenv reads the environment for ${VAR} in tenants; ${CALLDEX_DATA_DIR}
// means the resolved data directory.
func (a *App) getenv(k string) (string, bool) {
	if k == "CALLDEX_DATA_DIR" {
		return a.cfg.DataDir, true
	}
	return os.LookupEnv(k)
}

// openTenants serves tenants from the tenants bucket: the file's tenants
// that the bucket lacks are imported (after that the bucket wins, changed
// through the admin API or calldexctl tenants apply), and a watcher keeps
// the registry equal to the bucket, dropping the connectors and sync
// sources of each changed tenant. It returns once the registry holds the
// bucket's tenants.
func (a *App) openTenants(ctx context.Context, js jetstream.JetStream, topo events.Topology, boot bootTenants, factory *connectors.Factory) (*tenant.Registry, *tenantstore.Store, error) {
	kv, err := tenantstore.EnsureBucket(ctx, js, topo)
	if err != nil {
		return nil, nil, err
	}
	key := []byte(a.cfg.CredentialKey)
	reg := tenant.NewKeyedRegistry(key, nil)
	store := tenantstore.New(kv, tenantstore.Config{LookupKey: key, Getenv: a.getenv, Owners: reg})
	if _, err := store.Import(ctx, boot.refs); err != nil {
		return nil, nil, fmt.Errorf("import tenants: %w", err)
	}
	w := tenantstore.NewWatcher(kv, reg, tenantstore.WatchConfig{Getenv: a.getenv, Log: a.log, OnChange: func(ids []string) {
		for _, id := range ids {
			factory.Invalidate(id)
		}
		if s := a.syncer.Load(); s != nil {
			s.TenantsChanged(ids)
		}
	}})
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	watched := make(chan error, 1)
	go func() { watched <- w.Run(wctx) }()
	a.closers = append(a.closers, func() { stop(); <-watched })
	select {
	case <-w.Synced():
		return reg, store, nil
	case err := <-watched:
		watched <- err
		return nil, nil, fmt.Errorf("tenants bucket: %w", err)
	case <-time.After(30 * time.Second):
		return nil, nil, errors.New("tenants bucket: not loaded within 30s")
	}
}

// openNATS embeds NATS when no URL is configured, connects, and sets up
// every stream and bucket.
func (a *App) openNATS(ctx context.Context, topo events.Topology, m *metrics.Metrics) (*nats.Conn, jetstream.JetStream, natsx.Buckets, error) {
	a.natsURL = a.cfg.NATSURL
	if a.natsURL == "" {
		srv, err := embedNATS(a.cfg)
		if err != nil {
			return nil, nil, natsx.Buckets{}, err
		}
		a.closers = append(a.closers, func() { srv.Shutdown(); srv.WaitForShutdown() })
		a.natsURL = srv.ClientURL()
	}
	nc, err := ConnectNATS(a.natsURL, "calldex", a.log)
	if err != nil {
		return nil, nil, natsx.Buckets{}, err
	}
	a.closers = append(a.closers, func() { drain(nc, a.cfg.ShutdownTimeout) })
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, msg *nats.Msg, err error) {
		m.EventsFailed.WithLabelValues(streamOf(topo, msg.Subject)).Inc()
	}))
	if err != nil {
		return nil, nil, natsx.Buckets{}, fmt.Errorf("jetstream: %w", err)
	}
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	buckets, err := natsx.Setup(setupCtx, js, topo)
	if err != nil {
		return nil, nil, natsx.Buckets{}, err
	}
	return nc, js, buckets, nil
}

// drain flushes what is still buffered for NATS and closes the connection.
func drain(nc *nats.Conn, timeout time.Duration) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(timeout):
		nc.Close()
	}
}

// newWorker builds the workflow worker on a connection of its own: the
// watermill subscriber drains and closes it when the worker stops, while
// dead letters and results still go through the main connection.
func (a *App) newWorker(js jetstream.JetStream, topo events.Topology, buckets natsx.Buckets, reg *tenant.Registry, f *connectors.Factory) (*worker.Worker, error) {
	conn, err := ConnectNATS(a.natsURL, "calldex-worker", a.log)
	if err != nil {
		return nil, err
	}
	w, err := worker.New(worker.Config{Topology: topo, Concurrency: a.cfg.WorkerConcurrency}, worker.Deps{
		Conn: conn, JS: js, Results: buckets.WorkflowResults, Tenants: reg, Connectors: f, Logger: a.log, Metrics: a.Metrics,
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	// The subscriber starts draining the connection as the worker stops;
	// NATS must not close before that drain ends (or before the
	// connection closes, should the worker never run).
	a.closers = append(a.closers, func() { drain(conn, a.cfg.ShutdownTimeout) })
	return w, nil
}

func embedNATS(cfg Config) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(cfg.EmbeddedNATSAddr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats address %q: %w", cfg.EmbeddedNATSAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded nats port %q: %w", portStr, err)
	}
	if port == 0 {
		port = -1
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	srv, err := natsx.StartEmbedded(natsx.EmbeddedConfig{DataDir: filepath.Join(cfg.DataDir, "jetstream"), Host: host, Port: port})
	if errors.Is(err, natsx.ErrAddressInUse) {
		return nil, fmt.Errorf("CALLDEX_NATS_ADDR: %w; choose another address, or set NATS_URL to use a running NATS", err)
	}
	return srv, err
}

// openIndex opens the index Config selects (or WithIndex's) and the
// projector's checkpoint beside it.
func (a *App) openIndex(ctx context.Context, topo events.Topology) (index.Index, projector.Checkpoint, func(context.Context) error, error) {
	noPing := func(context.Context) error { return nil }
	if a.opts.index != nil {
		return a.opts.index, &projector.Memory{}, noPing, nil
	}
	if a.cfg.RedisURL == "" {
		return index.NewMemory(), &projector.Memory{}, noPing, nil
	}
	rdb, kind, err := redisx.Open(ctx, a.cfg.RedisURL)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	a.closers = append(a.closers, func() { rdb.Close() })
	a.rdb = rdb
	a.log.Info("redis", "kind", kind)
	cp := projector.NewRedis(rdb, a.cfg.RedisPrefix, topo.Stream(events.StreamContacts))
	idx := index.NewRedis(rdb, a.cfg.RedisPrefix)
	// Serve every tenant from its active generation (calldexctl index
	// rebuild switches them) and follow switches while running.
	if err := idx.Refresh(ctx); err != nil {
		return nil, nil, nil, err
	}
	a.parts = append(a.parts, part{"index generations", func(ctx context.Context) error {
		idx.Follow(ctx, 5*time.Second, a.log)
		return ctx.Err()
	}})
	return idx, cp, func(ctx context.Context) error { return rdb.Ping(ctx).Err() }, nil
}

// openRisk opens the callers' counts beside the index (in Redis, or in
// process with the in-process index) and, with the projector role, the
// feed that fills them from CALLS, on a connection of its own.
func (a *App) openRisk(js jetstream.JetStream, reg *tenant.Registry, topo events.Topology) (risk.Store, error) {
	var store risk.Store
	var err error
	if a.rdb != nil {
		store, err = risk.NewRedis(a.rdb, a.cfg.RedisPrefix, risk.Window{})
	} else {
		store, err = risk.NewMemory(risk.Window{})
	}
	if err != nil {
		return nil, err
	}
	if !a.cfg.Roles.Has(RoleProjector) {
		return store, nil
	}
	conn, err := ConnectNATS(a.natsURL, "calldex-risk", a.log)
	if err != nil {
		return nil, err
	}
	feed, err := riskfeed.New(riskfeed.Config{Topology: topo, CallsOnly: a.countsLookupRisk()}, riskfeed.Deps{Conn: conn, JS: js, Store: store, Tenants: reg, Logger: a.log})
	if err != nil {
		conn.Close()
		return nil, err
	}
	a.closers = append(a.closers, func() { drain(conn, a.cfg.ShutdownTimeout) })
	a.parts = append(a.parts, part{"risk feed", feed.Run})
	return store, nil
}

// eraserRisk is the risk store the eraser forgets numbers in, nil when
// caller risk is off (a nil risk.Store in the interface would not be nil).
func eraserRisk(s risk.Store) erasure.Risk {
	if s == nil {
		return nil
	}
	return s
}

// countsLookupRisk: the ingress counts its lookups' callers straight into
// the in-process risk store (lookup.Recorder.CountRisk), and the feed
// reads only finished calls. With Redis the feed counts every replica's
// lookups from CALLS, and the ringing path never writes to Redis.
func (a *App) countsLookupRisk() bool { return a.rdb == nil && a.cfg.Roles.Has(RoleIngress) }

// phoneOptions adapts the tenant registry to the projector.
type phoneOptions struct{ reg *tenant.Registry }

func (p phoneOptions) PhoneOptions(id string) (phone.Options, bool) {
	t, ok := p.reg.Tenant(id)
	if !ok {
		return phone.Options{}, false
	}
	return t.PhoneOptions(), true
}

func streamOf(topo events.Topology, subject string) string {
	for _, s := range topo.Streams() {
		if matches(s.Subjects[0], subject) {
			return s.Name
		}
	}
	return "unknown"
}

// matches tells whether subject falls under a "root.>" filter.
func matches(filter, subject string) bool {
	return strings.HasPrefix(subject, strings.TrimSuffix(filter, ">"))
}
