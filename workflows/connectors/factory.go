package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/accountlimit"
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
	// ActionLogDisposition applies a call's dispositions to the CRM entry
	// of the logged call (crm.DispositionLogger).
	ActionLogDisposition = "logDisposition"
)

// Deps are what constructors share.
type Deps struct {
	// HTTP is the shared client of HTTP connectors (NewHTTPClient).
	HTTP *resty.Client
	// Limits holds the CRM accounts' rate limits, shared by every
	// instance of an account; default a registry of the factory's own.
	Limits *accountlimit.Registry
}

// Constructor builds one connector instance from its options. It returns
// crm.Permanent errors for wrong options and transient ones for a
// dependency it cannot reach yet (a database down): the factory caches
// only successes, so the next workflow tries again. The instance may
// implement io.Closer.
type Constructor func(ctx context.Context, opts map[string]any, deps Deps) (any, error)

// Type is one kind of connector.
type Type struct {
	// Build makes an instance; it may connect (a SQL pool).
	Build Constructor
	// Check reads options as Build does, without any I/O, and returns a
	// value of the type Build returns (a nil pointer will do): what it can
	// do is what the instance will do. nil: the type cannot be checked
	// before it is built.
	Check func(opts map[string]any, deps Deps) (any, error)
}

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
	types map[string]Type
	cache map[cacheKey]*entry
}

type cacheKey struct{ tenant, name string }

type entry struct {
	ready chan struct{} // closed once conn or err is set
	conn  *Connector
	err   error
}

// EachBreaker calls fn with the breaker state of every connector built and
// cached for a tenant.
func (f *Factory) EachBreaker(fn func(tenant, name string, state breaker.State)) {
	f.mu.Lock()
	conns := make(map[cacheKey]*Connector, len(f.cache))
	for k, e := range f.cache {
		select {
		case <-e.ready:
			if e.conn != nil {
				conns[k] = e.conn
			}
		default:
		}
	}
	f.mu.Unlock()
	for k, c := range conns {
		fn(k.tenant, k.name, c.Breaker().State())
	}
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
	if deps.Limits == nil {
		deps.Limits = accountlimit.New()
	}
	f := &Factory{cfg: cfg, deps: deps, types: map[string]Type{}, cache: map[cacheKey]*entry{}}
	f.RegisterType(sqlcrm.Type, Type{Build: buildSQL, Check: checkSQL})
	f.RegisterType(webhook.Type, httpType(webhook.ParseOptions, withClient(webhook.New)))
	f.RegisterType("hubspot", httpType(hubspot.FromOptions, newHubSpot))
	f.RegisterType("pipedrive", httpType(pipedrive.FromOptions, newPipedrive))
	f.RegisterType("upstream", httpType(upstream.FromOptions, withClient(upstream.New)))
	return f, nil
}

// Register adds or replaces a connector type that has no Check.
func (f *Factory) Register(typ string, ctor Constructor) {
	f.RegisterType(typ, Type{Build: ctor})
}

// RegisterType adds or replaces a connector type.
func (f *Factory) RegisterType(typ string, t Type) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.types[typ] = t
}

// Types lists the registered connector types.
func (f *Factory) Types() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.types))
	for t := range f.types {
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

// Check reads a connector's options as Build does, the sync's beside
// them, without connecting anywhere, and tells what the connector will be
// able to do. Its error is ErrUnknownType, ErrNotCheckable, or the
// options' problems joined (errors.Join), with no more words around them:
// the caller says which connector it checked.
func (f *Factory) Check(c tenant.Connector) (Capabilities, error) {
	f.mu.Lock()
	typ, ok := f.types[c.Type]
	f.mu.Unlock()
	switch {
	case !ok:
		return Capabilities{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownType, c.Type, strings.Join(f.Types(), ", "))
	case typ.Check == nil:
		return Capabilities{}, fmt.Errorf("%w: %q", ErrNotCheckable, c.Type)
	}
	impl, err := typ.Check(crmsync.ConnectorOptions(c.Options), f.deps)
	_, syncErr := crmsync.ParseSourceOptions(c.Options)
	if err := errors.Join(err, syncErr); err != nil {
		return Capabilities{}, err
	}
	return capabilitiesOf(impl), nil
}

// newImpl runs the type's constructor.
func (f *Factory) newImpl(ctx context.Context, name string, c tenant.Connector) (any, error) {
	f.mu.Lock()
	typ, ok := f.types[c.Type]
	f.mu.Unlock()
	if !ok {
		return nil, crm.Permanent(fmt.Errorf("connector %s: %w %q (known: %v)", name, ErrUnknownType, c.Type, f.Types()))
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.BuildTimeout)
	defer cancel()
	// Sync and webhook settings sit beside a connector's own options in the
	// tenant config; connectors refuse keys they do not know.
	impl, err := typ.Build(ctx, crmsync.ConnectorOptions(c.Options), f.deps)
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

// Actions lists the workflow actions the connector can do.
func (c *Connector) Actions() []string {
	return capabilitiesOf(c.impl).Actions
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
	case ActionLogDisposition:
		if x, ok := c.DispositionLogger(); ok {
			return x.LogDisposition
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

func checkSQL(opts map[string]any, _ Deps) (any, error) {
	cfg, err := sqlcrm.ParseOptions(opts)
	if err != nil {
		return nil, err
	}
	return (*sqlcrm.Store)(nil), sqlcrm.Check(cfg)
}

// newHubSpot gives the connector its portal's search limiter, shared by
// every instance of the portal the factory builds.
func newHubSpot(cfg hubspot.Config, deps Deps) (*hubspot.Connector, error) {
	if cfg.PortalID > 0 {
		cfg.SearchLimiter = deps.Limits.Limiter(fmt.Sprintf("hubspot/%d/search", cfg.PortalID), cfg.SearchInterval)
	}
	return hubspot.New(cfg, deps.HTTP)
}

// newPipedrive gives the connector its company's search limiter and daily
// token budget, shared by every instance of the company the factory
// builds.
func newPipedrive(cfg pipedrive.Config, deps Deps) (*pipedrive.Connector, error) {
	if cfg.CompanyDomain != "" {
		cfg.SearchLimiter = deps.Limits.Limiter("pipedrive/"+cfg.CompanyDomain+"/search", pipedrive.SearchInterval)
		if cfg.DailyBudget > 0 {
			cfg.Budget = deps.Limits.Budget("pipedrive/"+cfg.CompanyDomain+"/tokens", cfg.DailyBudget)
		}
	}
	return pipedrive.New(cfg, deps.HTTP)
}

// withClient adapts a constructor that needs only the shared HTTP client.
func withClient[C any, T any](mk func(C, *resty.Client) (T, error)) func(C, Deps) (T, error) {
	return func(cfg C, deps Deps) (T, error) { return mk(cfg, deps.HTTP) }
}

// httpType is the Type of a connector that only needs its options and the
// shared dependencies: building it does no I/O, so Check builds it too,
// and every error is a configuration error.
func httpType[C any, T any](parse func(map[string]any) (C, error), mk func(C, Deps) (T, error)) Type {
	check := func(opts map[string]any, deps Deps) (any, error) {
		cfg, err := parse(opts)
		if err != nil {
			return nil, err
		}
		return mk(cfg, deps)
	}
	return Type{
		Build: func(_ context.Context, opts map[string]any, deps Deps) (any, error) {
			c, err := check(opts, deps)
			if err != nil {
				return nil, crm.Permanent(err)
			}
			return c, nil
		},
		Check: check,
	}
}
