package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/erasure"
	"github.com/calldex/calldex/services/internal/tenantadmin"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// maxBody bounds every request body but bulk imports.
const maxBody = 64 << 10

// Projection tells when the index shows a CONTACTS sequence.
type Projection interface {
	WaitApplied(ctx context.Context, seq uint64) error
}

// Check is a readiness probe of a dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Deps are what the ingress is built on; every field is required unless
// said otherwise.
type Deps struct {
	Config  *tenant.Config
	Tenants *tenant.Registry
	// Lookup runs and records every dialect's lookups.
	Lookup   *lookup.Recorder
	Contacts *contact.Publisher
	// Projection lets admin writes wait until the index shows them.
	Projection Projection
	// JS stores call events; required with Workflows.
	JS       jetstream.JetStream
	Topology events.Topology
	Metrics  *metrics.Metrics
	// Ready are the readiness checks of /readyz.
	Ready []Check
	Log   *slog.Logger
	// Workflows runs business workflows; nil disables the workflow routes.
	Workflows Dispatcher
	// AppConnect serves /appconnect/; nil disables it.
	AppConnect http.Handler
	// Webhooks serves CRM change notifications under /webhooks/; nil
	// disables them.
	Webhooks http.Handler
	// TenantAdmin serves the tenant definitions under /admin/v1/tenants
	// (tenantadmin.Patterns); nil disables them.
	TenantAdmin http.Handler
	// Resync starts a full resync of a tenant's source; nil disables the
	// admin route.
	Resync Resyncer
	// Guard limits failed tenant credentials and admin tokens per client
	// address and tenant; nil limits nothing.
	Guard *authguard.Guard
	// Audit records every admin request (*audit.Publisher); nil records
	// none.
	Audit Auditor
	// Eraser erases numbers (*erasure.Eraser); nil disables the admin
	// route.
	Eraser Eraser
	// Names finds contacts by name for the contact search; nil disables
	// the search route, as do nil Runs, Sources and DeadLetters theirs.
	Names       NameSearcher
	Runs        Runs
	Sources     Sources
	DeadLetters DeadLetters
	// Console serves the operators' web console under /console; nil
	// disables it.
	Console http.Handler
	// Risk holds the callers' counts (risk.Store); nil disables the risk
	// admin routes.
	Risk risk.Store
}

// Eraser removes a tenant's number from every store (*erasure.Eraser).
type Eraser interface {
	Erase(ctx context.Context, tenant, e164 string, opts phone.Options) (erasure.Report, error)
}

// Auditor records an admin action for a tenant (*audit.Publisher).
type Auditor interface {
	Record(ctx context.Context, tenant string, e events.AuditEntry) error
}

// Resyncer asks the CRM sync for a full resync of one source.
type Resyncer interface {
	Resync(ctx context.Context, tenant, source string) error
}

// Server routes every dialect.
type Server struct {
	Deps
	mux *http.ServeMux
	// patterns are the routes registered on mux, for Patterns.
	patterns []string
}

// New builds the HTTP handler.
func New(d Deps) (*Server, error) {
	if d.Config == nil || d.Tenants == nil || d.Lookup == nil || d.Contacts == nil ||
		d.Projection == nil || d.Metrics == nil {
		return nil, errors.New("ingress: missing dependency")
	}
	if d.Workflows != nil && d.JS == nil {
		return nil, errors.New("ingress: workflows need JetStream for call events")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Server{Deps: d, mux: newMux()}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	// peoplefone CONNECTOR: current POST form and first GET form.
	s.handle("POST /peoplefone/Lookup", s.tenantAuth(s.peoplefoneLookup))
	s.handle("GET /peoplefone/Lookup", s.tenantAuth(s.peoplefoneLookupV1))
	// While1 PBX caller data webservice.
	s.handle("GET /pbx/lookup", s.tenantAuth(s.pbxLookup))

	s.handle("PUT /admin/v1/tenants/{tenant}/contacts/{id}", s.adminAuth(s.adminPutContact))
	s.handle("DELETE /admin/v1/tenants/{tenant}/contacts/{id}", s.adminAuth(s.adminDeleteContact))
	s.handle("POST /admin/v1/tenants/{tenant}/contacts", s.adminAuth(s.adminBulkContacts))
	s.handle("GET /admin/v1/tenants/{tenant}/lookup", s.adminAuth(s.adminLookup))

	opsRoutes(s.mount, s.Metrics, s.Ready)
	s.handle("GET /openapi.yaml", s.openapi)
	if s.Workflows != nil {
		s.workflowRoutes()
	}
	if s.AppConnect != nil {
		s.mount("/appconnect/", s.AppConnect)
	}
	if s.Webhooks != nil {
		s.mount("/webhooks/", s.Webhooks)
	}
	if s.TenantAdmin != nil {
		for _, p := range tenantadmin.Patterns {
			s.mount(p, s.TenantAdmin)
		}
	}
	if s.Resync != nil {
		s.handle("POST /admin/v1/tenants/{tenant}/sources/{source}/resync", s.adminAuth(s.adminResync))
	}
	if s.Eraser != nil {
		s.handle("DELETE /admin/v1/tenants/{tenant}/numbers/{number}", s.adminAuth(s.adminErase))
	}
	if s.Names != nil {
		s.handle("GET /admin/v1/tenants/{tenant}/contacts", s.adminAuth(s.adminSearchContacts))
	}
	if s.Sources != nil {
		s.handle("GET /admin/v1/tenants/{tenant}/sources", s.adminAuth(s.adminSources))
	}
	if s.Runs != nil {
		s.handle("GET /admin/v1/tenants/{tenant}/workflows", s.adminAuth(s.adminWorkflowRuns))
	}
	if s.DeadLetters != nil {
		s.handle("GET /admin/v1/tenants/{tenant}/dead-letters", s.adminAuth(s.adminDeadLetters))
		s.handle("POST /admin/v1/tenants/{tenant}/dead-letters/redrive", s.adminAuth(s.adminRedrive))
	}
	if s.Console != nil {
		s.mount("/console/", s.Console)
		s.mount("GET /console", http.RedirectHandler("/console/", http.StatusSeeOther))
	}
	if s.Risk != nil {
		s.handle("GET /admin/v1/risk", s.adminAuth(s.adminRiskTop))
		s.handle("GET /admin/v1/risk/{number}", s.adminAuth(s.adminRiskExplain))
	}
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mount(pattern, h)
}

// mount registers h for pattern and remembers the route: a handler mounted
// on a subtree that lists its own routes stands for them.
func (s *Server) mount(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	if p, ok := h.(patterned); ok && strings.HasSuffix(pattern, "/") && !strings.Contains(pattern, " ") {
		s.patterns = append(s.patterns, p.Patterns()...)
		return
	}
	s.patterns = append(s.patterns, pattern)
}

// patterned is a handler that lists its routes (*appconnect.Handler).
type patterned interface {
	Patterns() []string
}

// Patterns are the routes the server answers, as http.ServeMux patterns
// ("GET /pbx/lookup", or a subtree such as "/console/" handed to another
// handler): the OpenAPI document's test checks each is documented.
func (s *Server) Patterns() []string {
	return slices.Clone(s.patterns)
}

// ServeHTTP answers every route; unknown ones get a JSON 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	serve(s.mux, s.Metrics, w, r)
}

// Ops serves what every role serves, the ingress and the others alike:
// liveness, readiness and metrics.
func Ops(m *metrics.Metrics, ready []Check) http.Handler {
	mux := newMux()
	opsRoutes(mux.Handle, m, ready)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(mux, m, w, r) })
}

func opsRoutes(handle func(string, http.Handler), m *metrics.Metrics, ready []Check) {
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { readyz(w, r, ready) }))
	handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
}

// newMux is a ServeMux whose unknown routes get a JSON 404, under the
// catch-all pattern "/".
func newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// serve routes r through mux (built by newMux), counting it by route
// pattern ("unknown" for none) and status code. The pattern is the one mux
// sets on r: asking mux for it first would route every request twice.
func serve(mux *http.ServeMux, m *metrics.Metrics, w http.ResponseWriter, r *http.Request) {
	sw := statusWriter{ResponseWriter: w, code: http.StatusOK}
	mux.ServeHTTP(&sw, r)
	pattern := r.Pattern
	if pattern == "/" {
		pattern = "unknown"
	}
	m.HTTPRequests.WithLabelValues(pattern, strconv.Itoa(sw.code)).Inc()
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// readyz answers 200 when every check passes, within its own budget: a
// check still running when the budget ends counts as failed.
func readyz(w http.ResponseWriter, r *http.Request, checks []Check) {
	ctx, cancel := context.WithTimeout(r.Context(), readyBudget)
	defer cancel()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(checks))
	for _, c := range checks {
		go func() { results <- result{c.Name, c.Fn(ctx)} }()
	}
	status := make(map[string]string, len(checks))
	for _, c := range checks {
		status[c.Name] = "no answer within " + readyBudget.String()
	}
	ok := true
wait:
	for range checks {
		select {
		case res := <-results:
			if res.err != nil {
				status[res.name], ok = res.err.Error(), false
			} else {
				status[res.name] = "ok"
			}
		case <-ctx.Done():
			ok = false
			break wait
		}
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}

// readyBudget bounds /readyz: a probe that waits longer is worse than a no.
const readyBudget = time.Second
