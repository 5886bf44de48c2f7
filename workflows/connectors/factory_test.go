package connectors_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/breaker"
	"github.com/calldex/calldex/workflows/connectors"
	"github.com/calldex/calldex/workflows/crm"
)

// fake is a connector that only logs calls, answering with the next error
// of its script (nil = success).
type fake struct {
	mu     sync.Mutex
	script []error
	calls  int
	closed bool
}

func (f *fake) LogCall(context.Context, crm.Call) (crm.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if len(f.script) == 0 {
		return crm.Result{ID: "1"}, nil
	}
	err := f.script[0]
	f.script = f.script[1:]
	return crm.Result{ID: "1"}, err
}

func (f *fake) Close() error { f.closed = true; return nil }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newFactory(t *testing.T, clk *clock, fakes map[string]*fake) (*connectors.Factory, *atomic.Int32) {
	t.Helper()
	cfg := connectors.Config{Breaker: breaker.Config{Failures: 2, CoolDown: time.Minute}}
	if clk != nil {
		cfg.Breaker.Now = clk.Now
	}
	f, err := connectors.New(cfg, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	builds := &atomic.Int32{}
	f.Register("fake", func(_ context.Context, opts map[string]any, _ connectors.Deps) (any, error) {
		builds.Add(1)
		name, _ := opts["name"].(string)
		return fakes[name], nil
	})
	t.Cleanup(func() { _ = f.Close() })
	return f, builds
}

var call = crm.Call{Key: "k", Tenant: "acme", Workflow: "CallFlow"}

func TestConnectorIsCachedPerTenantAndName(t *testing.T) {
	fakes := map[string]*fake{"a": {}, "b": {}}
	f, builds := newFactory(t, nil, fakes)
	ctx := context.Background()
	cfgA := tenant.Connector{Type: "fake", Options: map[string]any{"name": "a"}}

	var wg sync.WaitGroup
	got := make([]*connectors.Connector, 10)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = f.Connector(ctx, "acme", "crm", cfgA)
		}()
	}
	wg.Wait()
	for _, c := range got {
		if c == nil || c != got[0] {
			t.Fatalf("concurrent first uses got different instances")
		}
	}
	other, err := f.Connector(ctx, "globex", "crm", cfgA)
	if err != nil || other == got[0] {
		t.Fatalf("another tenant shares the instance (%v)", err)
	}
	if n := builds.Load(); n != 2 {
		t.Fatalf("%d builds, want 2", n)
	}
	if err := f.Close(); err != nil || !fakes["a"].closed {
		t.Fatalf("close: %v, closed %v", err, fakes["a"].closed)
	}
}

func TestUnknownTypeAndUnsupportedActionArePermanent(t *testing.T) {
	f, _ := newFactory(t, nil, map[string]*fake{"a": {}})
	ctx := context.Background()
	_, err := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "salesforce"})
	if !errors.Is(err, connectors.ErrUnknownType) || !crm.IsPermanent(err) {
		t.Fatalf("unknown type: %v", err)
	}
	c, err := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "fake", Options: map[string]any{"name": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Supports(connectors.ActionLogCall) || c.Supports(connectors.ActionCreateTicket) {
		t.Fatalf("actions = %v", c.Actions())
	}
	_, err = c.Do(ctx, connectors.ActionCreateTicket, call)
	if !errors.Is(err, connectors.ErrUnsupportedAction) || !crm.IsPermanent(err) {
		t.Fatalf("unsupported: %v", err)
	}
	// Bad options of a built-in type are permanent too.
	_, err = f.Connector(ctx, "acme", "hook", tenant.Connector{Type: "webhook", Options: map[string]any{"url": "https://x.example", "secret": "short"}})
	if !crm.IsPermanent(err) {
		t.Fatalf("bad webhook options: %v", err)
	}
}

func TestFailedBuildIsNotCached(t *testing.T) {
	f, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	f.Register("flaky", func(context.Context, map[string]any, connectors.Deps) (any, error) {
		if n.Add(1) == 1 {
			return nil, crm.Transient(errors.New("database starting"))
		}
		return &fake{}, nil
	})
	ctx := context.Background()
	if _, err := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "flaky"}); err == nil || crm.IsPermanent(err) {
		t.Fatalf("first build: %v, want transient", err)
	}
	if _, err := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "flaky"}); err != nil {
		t.Fatalf("second build: %v", err)
	}
}

func TestBreakerPerInstance(t *testing.T) {
	down := crm.Transient(errors.New("503"))
	fakes := map[string]*fake{
		"a": {script: []error{down, down, nil}},
		"b": {},
	}
	clk := &clock{t: time.Unix(0, 0)}
	f, _ := newFactory(t, clk, fakes)
	ctx := context.Background()
	a, _ := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "fake", Options: map[string]any{"name": "a"}})
	b, _ := f.Connector(ctx, "globex", "crm", tenant.Connector{Type: "fake", Options: map[string]any{"name": "b"}})

	for range 2 {
		if _, err := a.Do(ctx, connectors.ActionLogCall, call); !errors.Is(err, crm.ErrTransient) {
			t.Fatalf("want the transient failure, got %v", err)
		}
	}
	_, err := a.Do(ctx, connectors.ActionLogCall, call)
	if !errors.Is(err, breaker.ErrOpen) || crm.IsPermanent(err) {
		t.Fatalf("after 2 failures: %v, want ErrOpen", err)
	}
	if fakes["a"].calls != 2 {
		t.Fatalf("open breaker called the CRM: %d calls", fakes["a"].calls)
	}
	if _, err := b.Do(ctx, connectors.ActionLogCall, call); err != nil {
		t.Fatalf("other tenant's connector: %v", err)
	}

	clk.Advance(time.Minute)
	if a.Breaker().State() != breaker.HalfOpen {
		t.Fatalf("state = %s, want half-open", a.Breaker().State())
	}
	if res, err := a.Do(ctx, connectors.ActionLogCall, call); err != nil || res.ID != "1" {
		t.Fatalf("probe: %+v, %v", res, err)
	}
	if a.Breaker().State() != breaker.Closed {
		t.Fatalf("state = %s, want closed", a.Breaker().State())
	}
}

func TestBuiltinSQLConnector(t *testing.T) {
	f, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	c, err := f.Connector(context.Background(), "acme", "db", tenant.Connector{Type: "sql", Options: map[string]any{
		"driver": "sqlite", "dsn": "file:" + filepath.Join(t.TempDir(), "crm.db"), "urlTemplate": "https://crm/{id}",
	}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(context.Background(), connectors.ActionLogCall, crm.Call{Key: "0123456789abcdef0123456789abcdef", Tenant: "acme", Workflow: "CallFlow"})
	if err != nil || res.ID != "1" || res.URL != "https://crm/1" {
		t.Fatalf("log call: %+v, %v", res, err)
	}

	// The sync builds an instance of its own, which it lists and closes.
	inst, err := f.Build(context.Background(), "db", tenant.Connector{Type: "sql", Options: map[string]any{
		"driver": "sqlite", "dsn": "file:" + filepath.Join(t.TempDir(), "sync.db"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	lister, ok := inst.ChangeLister()
	if !ok {
		t.Fatal("the sql connector lists no changes")
	}
	if _, err := lister.ListChanges(context.Background(), ""); err != nil {
		t.Fatalf("list changes: %v", err)
	}
	if err := inst.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestHTTPClientDoesNotRetry(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	client := connectors.NewHTTPClient(connectors.HTTPConfig{})
	resp, err := client.R().Get(srv.URL)
	if err != nil || resp.StatusCode() != 503 || hits.Load() != 1 {
		t.Fatalf("status %d, err %v, %d requests; want one 503", resp.StatusCode(), err, hits.Load())
	}
}

func TestBuiltInSaaSConnectors(t *testing.T) {
	f, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"hubspot", "pipedrive", "upstream"} {
		if !slices.Contains(f.Types(), typ) {
			t.Fatalf("%s not registered: %v", typ, f.Types())
		}
		// Missing credentials are a configuration error: permanent, never retried.
		if _, err := f.Build(context.Background(), "crm", tenant.Connector{Type: typ, Options: map[string]any{}}); !crm.IsPermanent(err) {
			t.Fatalf("%s without options: err = %v, want permanent", typ, err)
		}
	}
	c, err := f.Connector(context.Background(), "acme", "crm", tenant.Connector{Type: "pipedrive", Options: map[string]any{"companyDomain": "acme", "token": "secret-token"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PhoneSearcher(); !ok {
		t.Fatal("pipedrive connector cannot search by phone")
	}
}

// every has every capability; each call fails with err.
type every struct {
	err   error
	calls atomic.Int32
}

func (e *every) fail() error { e.calls.Add(1); return e.err }

func (e *every) LogCall(context.Context, crm.Call) (crm.Result, error) {
	return crm.Result{}, e.fail()
}
func (e *every) CreateTicket(context.Context, crm.Call) (crm.Result, error) {
	return crm.Result{}, e.fail()
}
func (e *every) LogMessage(context.Context, crm.Call) (crm.Result, error) {
	return crm.Result{}, e.fail()
}
func (e *every) ListChanges(context.Context, string) (crm.Page, error) { return crm.Page{}, e.fail() }
func (e *every) SearchPhone(context.Context, []string) ([]events.Contact, error) {
	return nil, e.fail()
}
func (e *every) SearchName(context.Context, string, int) ([]events.Contact, error) {
	return nil, e.fail()
}
func (e *every) CreateContact(context.Context, crm.NewContact) (events.Contact, error) {
	return events.Contact{}, e.fail()
}

// Every capability handed out by an accessor runs behind the breaker: its
// failures open it, and then it fails fast without calling the CRM.
func TestCapabilitiesGoThroughTheBreaker(t *testing.T) {
	ctx := context.Background()
	caps := []struct {
		name string
		call func(c *connectors.Connector) error
	}{
		{"CallLogger", func(c *connectors.Connector) error {
			x, ok := c.CallLogger()
			return ifHas(ok, func() error { _, err := x.LogCall(ctx, call); return err })
		}},
		{"TicketCreator", func(c *connectors.Connector) error {
			x, ok := c.TicketCreator()
			return ifHas(ok, func() error { _, err := x.CreateTicket(ctx, call); return err })
		}},
		{"MessageLogger", func(c *connectors.Connector) error {
			x, ok := c.MessageLogger()
			return ifHas(ok, func() error { _, err := x.LogMessage(ctx, call); return err })
		}},
		{"ChangeLister", func(c *connectors.Connector) error {
			x, ok := c.ChangeLister()
			return ifHas(ok, func() error { _, err := x.ListChanges(ctx, ""); return err })
		}},
		{"PhoneSearcher", func(c *connectors.Connector) error {
			x, ok := c.PhoneSearcher()
			return ifHas(ok, func() error { _, err := x.SearchPhone(ctx, []string{"+41215522000"}); return err })
		}},
		{"NameSearcher", func(c *connectors.Connector) error {
			x, ok := c.NameSearcher()
			return ifHas(ok, func() error { _, err := x.SearchName(ctx, "Ada", 5); return err })
		}},
		{"ContactCreator", func(c *connectors.Connector) error {
			x, ok := c.ContactCreator()
			return ifHas(ok, func() error { _, err := x.CreateContact(ctx, crm.NewContact{Name: "Ada"}); return err })
		}},
	}
	for _, tc := range caps {
		t.Run(tc.name, func(t *testing.T) {
			impl := &every{err: crm.Transient(errors.New("503"))}
			f, err := connectors.New(connectors.Config{Breaker: breaker.Config{Failures: 2, CoolDown: time.Hour}}, connectors.Deps{})
			if err != nil {
				t.Fatal(err)
			}
			f.Register("every", func(context.Context, map[string]any, connectors.Deps) (any, error) { return impl, nil })
			c, err := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "every"})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := tc.call(c); !errors.Is(err, crm.ErrTransient) || errors.Is(err, breaker.ErrOpen) {
					t.Fatalf("want the CRM's transient failure, got %v", err)
				}
			}
			err = tc.call(c)
			if !errors.Is(err, breaker.ErrOpen) || crm.IsPermanent(err) {
				t.Fatalf("after 2 failures: %v, want ErrOpen", err)
			}
			if after, ok := crm.RetryAfter(err); !ok || after <= 0 {
				t.Errorf("open breaker gives no Retry-After: %v", err)
			}
			if n := impl.calls.Load(); n != 2 {
				t.Fatalf("open breaker called the CRM: %d calls, want 2", n)
			}
		})
	}

	// A connector without a capability does not hand it out.
	f, _ := newFactory(t, nil, map[string]*fake{"a": {}})
	c, err := f.Connector(ctx, "acme", "crm", tenant.Connector{Type: "fake", Options: map[string]any{"name": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PhoneSearcher(); ok {
		t.Error("a call logger hands out a PhoneSearcher")
	}
}

// ifHas runs call when the accessor handed out the capability.
func ifHas(ok bool, call func() error) error {
	if !ok {
		return errors.New("capability missing")
	}
	return call()
}

func TestCheckReadsOptionsWithoutConnecting(t *testing.T) {
	f, err := connectors.New(connectors.Config{}, connectors.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{connectors.ActionLogCall, connectors.ActionCreateTicket, connectors.ActionLogMessage, connectors.ActionLogDisposition}
	tests := []struct {
		name     string
		conn     tenant.Connector
		wantErr  []string
		wantCaps connectors.Capabilities
	}{
		{name: "unknown type", conn: tenant.Connector{Type: "salesforce"}, wantErr: []string{connectors.ErrUnknownType.Error(), "salesforce", "hubspot, pipedrive, sql, upstream, webhook"}},
		{name: "sql, no server listening", conn: tenant.Connector{Type: "sql", Options: map[string]any{"driver": "postgres", "dsn": "postgres://127.0.0.1:1/none"}},
			wantCaps: connectors.Capabilities{Actions: all, ListChanges: true, SearchPhone: true, SearchName: true}},
		{name: "sql driver", conn: tenant.Connector{Type: "sql", Options: map[string]any{"driver": "oracle", "dsn": "x"}}, wantErr: []string{`driver "oracle"`}},
		{name: "sql statement", conn: tenant.Connector{Type: "sql", Options: map[string]any{"driver": "sqlite", "dsn": "x.db",
			"statements": map[string]any{"logCall": "INSERT INTO x VALUES (:nope)", "nowish": "SELECT 1"}}}, wantErr: []string{"statement logCall", `unknown statement "nowish"`}},
		{name: "hubspot without token", conn: tenant.Connector{Type: "hubspot", Options: map[string]any{"portalId": 1}}, wantErr: []string{"token is required"}},
		{name: "hubspot", conn: tenant.Connector{Type: "hubspot", Options: map[string]any{"portalId": 1, "token": "t", "syncInterval": "1m"}},
			wantCaps: connectors.Capabilities{Actions: []string{connectors.ActionLogCall, connectors.ActionCreateTicket, connectors.ActionLogDisposition}, ListChanges: true, SearchPhone: true, SearchName: true, CreateContact: true}},
		{name: "upstream ftp", conn: tenant.Connector{Type: "upstream", Options: map[string]any{"url": "ftp://example.com", "token": "t"}}, wantErr: []string{`"ftp://example.com" must be an absolute http(s) URL`}},
		{name: "webhook without url", conn: tenant.Connector{Type: "webhook"}, wantErr: []string{"url"}},
		{name: "sync options beside", conn: tenant.Connector{Type: "webhook", Options: map[string]any{"url": "https://x.example", "syncInterval": "soon", "colour": "red"}},
			wantErr: []string{"syncInterval", "option colour: unknown option"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps, err := f.Check(tt.conn)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(caps.Actions, tt.wantCaps.Actions) || caps.ListChanges != tt.wantCaps.ListChanges || caps.SearchPhone != tt.wantCaps.SearchPhone ||
					caps.SearchName != tt.wantCaps.SearchName || caps.CreateContact != tt.wantCaps.CreateContact {
					t.Fatalf("capabilities %+v, want %+v", caps, tt.wantCaps)
				}
				return
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
		})
	}
	f.Register("opaque", func(context.Context, map[string]any, connectors.Deps) (any, error) { return &fake{}, nil })
	if _, err := f.Check(tenant.Connector{Type: "opaque"}); !errors.Is(err, connectors.ErrNotCheckable) {
		t.Fatalf("type without Check: %v", err)
	}
}
