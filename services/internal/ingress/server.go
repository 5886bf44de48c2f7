package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/index"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/tenant"
)

// maxBody bounds every request body but bulk imports.
const maxBody = 64 << 10

// EventPublisher queues fire-and-forget events.
type EventPublisher interface {
	Publish(subject string, env events.Envelope, payload any) bool
}

// Projection tells how far the index has caught up with CONTACTS.
type Projection interface {
	WaitApplied(ctx context.Context, seq uint64) error
	CaughtUp() bool
}

// Check is a readiness probe of a dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Deps are what the ingress is built on; every field is required unless
// said otherwise.
type Deps struct {
	Config     *tenant.Config
	Tenants    *tenant.Registry
	Index      index.Index
	Lookup     *lookup.Service
	Contacts   *contact.Publisher
	Projection Projection
	Events     EventPublisher
	// JS stores call events; required with Workflows.
	JS       jetstream.JetStream
	Topology events.Topology
	Metrics  *metrics.Metrics
	Ready    []Check
	Log      *slog.Logger
	// Workflows runs business workflows; nil disables the workflow routes.
	Workflows Dispatcher
	// AppConnect serves /appconnect/; nil disables it.
	AppConnect http.Handler
	// Webhooks serves CRM change notifications under /webhooks/; nil
	// disables them.
	Webhooks http.Handler
	// Resync starts a full resync of a tenant's source; nil disables the
	// admin route.
	Resync Resyncer
}

// Resyncer asks the CRM sync for a full resync of one source.
type Resyncer interface {
	Resync(ctx context.Context, tenant, source string) error
}

// Server routes every dialect.
type Server struct {
	Deps
	mux *http.ServeMux
}

// New builds the HTTP handler.
func New(d Deps) (*Server, error) {
	if d.Config == nil || d.Tenants == nil || d.Index == nil || d.Lookup == nil || d.Contacts == nil ||
		d.Projection == nil || d.Events == nil || d.Metrics == nil {
		return nil, errors.New("ingress: missing dependency")
	}
	if d.Workflows != nil && d.JS == nil {
		return nil, errors.New("ingress: workflows need JetStream for call events")
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	s := &Server{Deps: d, mux: http.NewServeMux()}
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

	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	s.handle("GET /openapi.yaml", s.openapi)
	if s.Workflows != nil {
		s.workflowRoutes()
	}
	if s.AppConnect != nil {
		s.mux.Handle("/appconnect/", s.AppConnect)
	}
	if s.Webhooks != nil {
		s.mux.Handle("/webhooks/", s.Webhooks)
	}
	if s.Resync != nil {
		s.handle("POST /admin/v1/tenants/{tenant}/sources/{source}/resync", s.adminAuth(s.adminResync))
	}
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
}

// ServeHTTP answers every route; unknown ones get a JSON 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{}
	ok := true
	for _, c := range s.Ready {
		if err := c.Fn(ctx); err != nil {
			status[c.Name] = err.Error()
			ok = false
		} else {
			status[c.Name] = "ok"
		}
	}
	if s.Projection.CaughtUp() {
		status["projection"] = "ok"
	} else {
		status["projection"] = "catching up with CONTACTS"
		ok = false
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, status)
}
