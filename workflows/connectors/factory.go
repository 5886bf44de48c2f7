package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crmsync"
	"github.com/calldex/calldex/workflows/hubspot"
	"github.com/calldex/calldex/workflows/pipedrive"
	"github.com/calldex/calldex/workflows/sqlcrm"
	"github.com/calldex/calldex/workflows/upstream"
	"github.com/calldex/calldex/workflows/webhook"
)

// Workflow actions, as named in a tenant's workflows (tenant.Workflow.Action).
const (
	ActionLogCall      = "logCall"
	ActionCreateTicket = "createTicket"
	ActionLogMessage   = "logMessage"
)

// Deps are what constructors share.
type Deps struct {
	// HTTP is the shared client of HTTP connectors (NewHTTPClient).
	HTTP *resty.Client
}

// Constructor builds one connector instance from its options. It returns
// crm.Permanent errors for wrong options and transient ones for a
// dependency it cannot reach yet (a database down): the factory caches
// only successes, so the next workflow tries again. The instance may
// implement io.Closer.
type Constructor func(ctx context.Context, opts map[string]any, deps Deps) (any, error)

// Config configures a Factory.
type Config struct {
	// Breaker configures each instance's circuit breaker.
	Breaker breaker.Config
	// BuildTimeout bounds one constructor (a SQL connector migrates its
	// schema). Default 30s.
	BuildTimeout time.Duration
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.BuildTimeout == 0 {
		c.BuildTimeout = 30 * time.Second
	}
	if c.BuildTimeout < 0 {
		errs = append(errs, errors.New("connectors: buildTimeout must not be negative"))
	}
	if err := c.Breaker.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Factory builds and caches connector instances. It is safe for concurrent
// use. The cache lives as long as the Factory: a config reload builds a new
// Factory (and Closes the old one).
type Factory struct {
	cfg   Config
	deps  Deps
	mu    sync.Mutex
	ctors map[string]Constructor
	cache map[cacheKey]*entry
}

type cacheKey struct{ tenant, name string }

type entry struct {
	ready chan struct{} // closed once conn or err is set
	conn  *Connector
	err   error
}

// New returns a Factory knowing the built-in types (sql, webhook, hubspot,
// pipedrive, upstream); add more
// with Register.
func New(cfg Config, deps Deps) (*Factory, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.HTTP == nil {
		deps.HTTP = NewHTTPClient(HTTPConfig{})
	}
	f := &Factory{cfg: cfg, deps: deps, ctors: map[string]Constructor{}, cache: map[cacheKey]*entry{}}
	f.Register(sqlcrm.Type, buildSQL)
	f.Register(webhook.Type, buildWebhook)
	f.Register("hubspot", ignoreCtx(httpConnector(hubspot.FromOptions, hubspot.New)))
	f.Register("pipedrive", ignoreCtx(httpConnector(pipedrive.FromOptions, pipedrive.New)))
	f.Register("upstream", ignoreCtx(httpConnector(upstream.FromOptions, upstream.New)))
	return f, nil
}

// Register adds or replaces a connector type.
func (f *Factory) Register(typ string, ctor Constructor) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctors[typ] = ctor
}

// Types lists the registered connector types.
func (f *Factory) Types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.ctors))
	for t := range f.ctors {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Build makes a new instance for one owner, uncached and with a breaker
// of its own: the sync builds its sources so, and closes them.
func (f *Factory) Build(ctx context.Context, name string, c tenant.Connector) (crmsync.Instance, error) {
	conn, err := f.build(ctx, "", name, c)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

// newImpl runs the type's constructor.
func (f *Factory) newImpl(ctx context.Context, name string, c tenant.Connector) (any, error) {
	f.mu.Lock()
	ctor, ok := f.ctors[c.Type]
	f.mu.Unlock()
	if !ok {
		return nil, crm.Permanent(fmt.Errorf("connector %s: %w %q (known: %v)", name, ErrUnknownType, c.Type, f.Types()))
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.BuildTimeout)
	defer cancel()
	// Sync and webhook settings sit beside a connector's own options in the
	// tenant config; connectors refuse keys they do not know.
	impl, err := ctor(ctx, crmsync.ConnectorOptions(c.Options), f.deps)
	if err != nil {
		return nil, fmt.Errorf("connector %s (%s): %w", name, c.Type, err)
	}
	return impl, nil
}

// Connector returns the tenant's instance of a connector, building it on
// first use. Concurrent first uses wait for one build.
func (f *Factory) Connector(ctx context.Context, tenantID, name string, c tenant.Connector) (*Connector, error) {
	k := cacheKey{tenantID, name}
	f.mu.Lock()
	e, ok := f.cache[k]
	if !ok {
		e = &entry{ready: make(chan struct{})}
		f.cache[k] = e
	}
	f.mu.Unlock()
	if ok {
		select {
		case <-e.ready:
			if e.err == nil {
				return e.conn, nil
			}
			// The builder failed and removed the entry: try ourselves.
			return f.Connector(ctx, tenantID, name, c)
		case <-ctx.Done():
			return nil, crm.Transient(fmt.Errorf("connector %s: waiting for build: %w", name, ctx.Err()))
		}
	}
	conn, err := f.build(ctx, tenantID, name, c)
	f.mu.Lock()
	if err != nil {
		delete(f.cache, k)
	}
	e.conn, e.err = conn, err
	close(e.ready)
	f.mu.Unlock()
	return conn, err
}

func (f *Factory) build(ctx context.Context, tenantID, name string, c tenant.Connector) (*Connector, error) {
	impl, err := f.newImpl(ctx, name, c)
	if err != nil {
		if tenantID != "" {
			err = fmt.Errorf("tenant %s: %w", tenantID, err)
		}
		return nil, err
	}
	br, err := breaker.New(f.cfg.Breaker)
	if err != nil {
		return nil, crm.Permanent(err)
	}
	return &Connector{Name: name, Type: c.Type, Tenant: tenantID, impl: impl, breaker: br}, nil
}

// Close closes every cached instance that holds resources (SQL pools).
func (f *Factory) Close() error {
	f.mu.Lock()
	entries := f.cache
	f.cache = map[cacheKey]*entry{}
	f.mu.Unlock()
	var errs []error
	for _, e := range entries {
		<-e.ready
		if e.conn != nil {
			errs = append(errs, e.conn.Close())
		}
	}
	return errors.Join(errs...)
}

// Invalidate drops the cached connectors of a tenant whose definition
// changed: the next use builds them from the new definition. The old
// instances are drained, then closed: calls in flight finish, later calls
// on them fail with a transient ErrReplaced (retried on the new one).
func (f *Factory) Invalidate(tenantID string) {
	f.mu.Lock()
	var old []*entry
	for k, e := range f.cache {
		if k.tenant == tenantID {
			old = append(old, e)
			delete(f.cache, k)
		}
	}
	f.mu.Unlock()
	for _, e := range old {
		go func() {
			<-e.ready
			if e.conn != nil {
				e.conn.drain()
			}
		}()
	}
}

// Connector is one tenant's guarded connector instance. Its capabilities
// are reached only through the accessors of capabilities.go, each call
// behind the instance's circuit breaker.
type Connector struct {
	Name, Type, Tenant string
	impl               any
	breaker            *breaker.Breaker

	// calls is held shared by each call and exclusively by drain.
	calls    sync.RWMutex
	replaced bool
}

// drain waits for the calls in flight, refuses later ones and closes the
// instance.
func (c *Connector) drain() {
	c.calls.Lock()
	c.replaced = true
	c.calls.Unlock()
	_ = c.Close()
}

// Close releases what the implementation holds (a SQL pool), if anything.
func (c *Connector) Close() error {
	if x, ok := c.impl.(io.Closer); ok {
		return x.Close()
	}
	return nil
}

// Breaker is the instance's circuit breaker.
func (c *Connector) Breaker() *breaker.Breaker { return c.breaker }

// Supports reports whether the connector can do an action.
func (c *Connector) Supports(action string) bool {
	return slices.Contains(c.Actions(), action)
}

// Actions lists what the connector can do.
func (c *Connector) Actions() []string {
	var out []string
	for _, a := range []string{ActionLogCall, ActionCreateTicket, ActionLogMessage} {
		if c.action(a) != nil {
			out = append(out, a)
		}
	}
	return out
}

// action returns the guarded method that runs a workflow action, nil when
// the connector cannot do it.
func (c *Connector) action(name string) func(context.Context, crm.Call) (crm.Result, error) {
	switch name {
	case ActionLogCall:
		if x, ok := c.CallLogger(); ok {
			return x.LogCall
		}
	case ActionCreateTicket:
		if x, ok := c.TicketCreator(); ok {
			return x.CreateTicket
		}
	case ActionLogMessage:
		if x, ok := c.MessageLogger(); ok {
			return x.LogMessage
		}
	}
	return nil
}

// Do runs a workflow action through the breaker. An action the connector
// does not support is a permanent ErrUnsupportedAction; an open breaker a
// transient breaker.ErrOpen with the remaining cool-down as Retry-After.
func (c *Connector) Do(ctx context.Context, action string, call crm.Call) (crm.Result, error) {
	run := c.action(action)
	if run == nil {
		return crm.Result{}, crm.Permanent(fmt.Errorf("connector %s (%s): %w: %q (supported: %v)", c.Name, c.Type, ErrUnsupportedAction, action, c.Actions()))
	}
	return run(ctx, call)
}

func buildSQL(ctx context.Context, opts map[string]any, _ Deps) (any, error) {
	cfg, err := sqlcrm.ParseOptions(opts)
	if err != nil {
		return nil, crm.Permanent(err)
	}
	return sqlcrm.Open(ctx, cfg)
}

func buildWebhook(_ context.Context, opts map[string]any, deps Deps) (any, error) {
	return httpConnector(webhook.ParseOptions, webhook.New)(opts, deps)
}

// httpConnector makes the constructor of a connector that only needs its
// options and the shared HTTP client: every error is a configuration error.
func httpConnector[C any, T any](parse func(map[string]any) (C, error), mk func(C, *resty.Client) (T, error)) func(map[string]any, Deps) (any, error) {
	return func(opts map[string]any, deps Deps) (any, error) {
		cfg, err := parse(opts)
		if err != nil {
			return nil, crm.Permanent(err)
		}
		c, err := mk(cfg, deps.HTTP)
		if err != nil {
			return nil, crm.Permanent(err)
		}
		return c, nil
	}
}

// ignoreCtx adapts a constructor that does no I/O.
func ignoreCtx(f func(map[string]any, Deps) (any, error)) Constructor {
	return func(_ context.Context, opts map[string]any, deps Deps) (any, error) { return f(opts, deps) }
}
