package console

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/shared/audit"
	"github.com/calldex/calldex/shared/tenant"
)

//go:embed static templates
var assets embed.FS

// Config tunes the console; the zero value takes the defaults.
type Config struct {
	// SessionTTL is how long a login lasts (default 8h).
	SessionTTL time.Duration
	// SampleInterval and Samples size the overview's ring of metric
	// samples (default every 10s, 360 of them: the last hour).
	SampleInterval time.Duration
	Samples        int
}

// Admin checks the admin token (*tenant.Config).
type Admin interface {
	CheckAdmin(token string) bool
}

// Tenants lists the tenants in force (*tenant.Registry).
type Tenants interface {
	Tenants() []*tenant.Tenant
}

// Auditor records console logins and logouts beside the admin API's
// actions (*audit.Publisher).
type Auditor interface {
	Record(ctx context.Context, tenant string, e events.AuditEntry) error
}

// Deps are what the console is built on. Admin, API, Tenants and Gatherer
// are required.
type Deps struct {
	Admin Admin
	// API is the admin API's handler (the ingress): every page reads and
	// acts through it.
	API     http.Handler
	Tenants Tenants
	// Gatherer is the process's registry (what /metrics serves).
	Gatherer prometheus.Gatherer
	// Guard limits failed logins per client address, as for the admin
	// token anywhere; nil limits nothing.
	Guard *authguard.Guard
	// Audit records logins and logouts; nil records none.
	Audit Auditor
	Log   *slog.Logger
}

// Console serves /console/.
type Console struct {
	cfg      Config
	deps     Deps
	sessions *sessions
	sampler  *sampler
	pages    pages
	mux      *http.ServeMux
}

// New builds the console.
func New(cfg Config, d Deps) (*Console, error) {
	if d.Admin == nil || d.API == nil || d.Tenants == nil || d.Gatherer == nil {
		return nil, errors.New("console: Admin, API, Tenants and Gatherer are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = 10 * time.Second
	}
	if cfg.Samples <= 0 {
		cfg.Samples = 360
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	ps, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, deps: d, sessions: newSessions(cfg.SessionTTL),
		sampler: newSampler(d.Gatherer, cfg.SampleInterval, cfg.Samples), pages: ps, mux: http.NewServeMux()}
	c.routes()
	return c, nil
}

// Run samples the metrics for the overview until ctx ends.
func (c *Console) Run(ctx context.Context) error { return c.sampler.run(ctx) }

func (c *Console) routes() {
	static, _ := fs.Sub(assets, "static")
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	c.mux.HandleFunc("GET /console/login", c.loginPage)
	c.mux.HandleFunc("POST /console/login", c.login)
	c.mux.HandleFunc("POST /console/logout", c.auth(c.logout))
	c.mux.HandleFunc("GET /console/{$}", c.auth(c.overview))
	c.mux.HandleFunc("GET /console/overview/stats", c.auth(c.overviewStats))
	c.mux.HandleFunc("GET /console/overview/series", c.auth(c.series))
	c.mux.HandleFunc("GET /console/lookup", c.auth(c.lookupPage))
	c.mux.HandleFunc("GET /console/contacts", c.auth(c.contactsPage))
	c.mux.HandleFunc("POST /console/contacts/save", c.auth(c.saveContact))
	c.mux.HandleFunc("POST /console/contacts/delete", c.auth(c.deleteContact))
	c.mux.HandleFunc("POST /console/contacts/upload", c.auth(c.uploadContacts))
	c.mux.HandleFunc("GET /console/sources", c.auth(c.sourcesPage))
	c.mux.HandleFunc("POST /console/sources/resync", c.auth(c.resync))
	c.mux.HandleFunc("GET /console/workflows", c.auth(c.workflowsPage))
	c.mux.HandleFunc("POST /console/dead-letters/redrive", c.auth(c.redrive))
	c.mux.HandleFunc("GET /console/config", c.auth(c.configPage))
}

// ServeHTTP serves the console with headers that keep its pages out of
// frames and other origins' scripts.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// auth admits a request with a live session and, when it changes
// something, the session's CSRF token.
func (c *Console) auth(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.sessions.get(r)
		if !ok {
			if r.Method == http.MethodGet && r.Header.Get("HX-Request") == "" {
				http.Redirect(w, r, "/console/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in (or the session expired): log in again", http.StatusUnauthorized)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.validCSRF(r) {
			http.Error(w, "missing or wrong CSRF token: reload the page", http.StatusForbidden)
			return
		}
		next(w, r, s)
	}
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.sessions.get(r); ok {
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
		return
	}
	c.render(w, r, http.StatusOK, "login", nil, nil)
}

// login checks the admin token in constant time (tenant.Config.CheckAdmin)
// and counts a wrong one against the address, as the admin API does.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	status, actor := http.StatusSeeOther, "none"
	defer func() { c.audit(r, actor, "POST /console/login", status) }()
	if retry, ok := c.deps.Guard.Allow(r.RemoteAddr, ""); !ok {
		authguard.SetRetryAfter(w, retry)
		status = http.StatusTooManyRequests
		c.render(w, r, status, "login", nil, map[string]any{"Error": "Too many failed logins from this address; try again later."})
		return
	}
	token := r.PostFormValue("token")
	if !c.deps.Admin.CheckAdmin(token) { // constant time, empty refused
		c.deps.Guard.Fail(authguard.KindAdminToken, r.RemoteAddr, "")
		status = http.StatusUnauthorized
		c.render(w, r, status, "login", nil, map[string]any{"Error": "Wrong admin token."})
		return
	}
	s := c.sessions.create()
	actor = s.actor()
	setCookie(w, r, s.id, s.expires)
	http.Redirect(w, r, "/console/", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	c.sessions.delete(s)
	setCookie(w, r, "", time.Unix(0, 0))
	c.audit(r, s.actor(), "POST /console/logout", http.StatusSeeOther)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// audit records a login or logout as the admin API records its requests.
func (c *Console) audit(r *http.Request, actor, action string, status int) {
	if c.deps.Audit == nil {
		return
	}
	e := events.AuditEntry{Actor: actor, Via: events.ViaAPI, Action: action, Outcome: audit.OutcomeOf(status),
		Status: status, Remote: authguard.Address(r.RemoteAddr)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 3*time.Second)
	defer cancel()
	if err := c.deps.Audit.Record(ctx, events.NoTenant, e); err != nil {
		c.deps.Log.Error("console action not audited", "action", action, "err", err)
	}
}
