package crmhooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/services/internal/httpjson"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/metrics"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/crmsync"
)

// Route is the pattern the Handler serves; mount the Handler on
// PathPrefix.
const (
	Route      = "POST /webhooks/{tenant}/{source}"
	PathPrefix = "/webhooks/"
)

// Connector types that send change notifications.
const (
	TypeHubSpot   = "hubspot"
	TypePipedrive = "pipedrive"
)

// Trigger asks the sync of a source to run now (*crmsync.Syncer, or
// *crmsync.Requests in a process without a Syncer).
type Trigger interface {
	SyncNow(ctx context.Context, tenant, source string) error
}

// Publisher publishes tombstones to CONTACTS, returning once acked
// (*contact.Publisher).
type Publisher interface {
	Delete(ctx context.Context, tenant, source, id string) (uint64, error)
}

// Tenants finds a tenant by id (*tenant.Registry).
type Tenants interface {
	Tenant(id string) (*tenant.Tenant, bool)
}

var (
	_ Trigger   = (*crmsync.Syncer)(nil)
	_ Trigger   = (*crmsync.Requests)(nil)
	_ Publisher = (*contact.Publisher)(nil)
	_ Tenants   = (*tenant.Registry)(nil)
)

// Config configures a Handler.
type Config struct {
	// MaxBody bounds a notification body. Default 1 MiB (HubSpot sends at
	// most 100 events per request; a Pipedrive v1 person is a few KiB).
	MaxBody int64
	// MaxAge refuses HubSpot requests whose signed timestamp is further
	// from now, which bounds replays. Default 5m, as HubSpot prescribes.
	MaxAge time.Duration
	// Timeout bounds the tombstones and the sync request of one
	// notification. Default 5s (HubSpot waits 5s for an answer).
	Timeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// MaxReplays bounds how many HubSpot signatures are remembered to
	// refuse replays. Default authguard.DefaultMaxReplayKeys.
	MaxReplays int
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	if c.MaxBody == 0 {
		c.MaxBody = 1 << 20
	}
	if c.MaxAge == 0 {
		c.MaxAge = 5 * time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var errs []error
	if c.MaxReplays == 0 {
		c.MaxReplays = authguard.DefaultMaxReplayKeys
	}
	if c.MaxBody < 0 || c.MaxAge < 0 || c.Timeout < 0 || c.MaxReplays < 0 {
		errs = append(errs, errors.New("crmhooks: maxBody, maxAge, timeout and maxReplays must be positive"))
	}
	return errors.Join(errs...)
}

// Deps are the Handler's ready clients.
type Deps struct {
	Tenants  Tenants
	Trigger  Trigger
	Contacts Publisher
	// Metrics, if set, counts notifications (calldex_crm_webhooks_total).
	Metrics *metrics.Metrics
	// Guard limits failed signatures and credentials per client address
	// and tenant; nil limits nothing.
	Guard *authguard.Guard
	// Log defaults to slog.Default().
	Log *slog.Logger
}

// Handler receives CRM change notifications at
// POST /webhooks/{tenant}/{source}, where source is the name of a HubSpot
// or Pipedrive connector of the tenant. See the package documentation.
type Handler struct {
	cfg Config
	Deps
	mux     *http.ServeMux
	replays *authguard.Replays
}

// New builds the Handler.
func New(cfg Config, d Deps) (*Handler, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if d.Tenants == nil || d.Trigger == nil || d.Contacts == nil {
		errs = append(errs, errors.New("crmhooks: Tenants, Trigger and Contacts are required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	h := &Handler{cfg: cfg, Deps: d, mux: http.NewServeMux(), replays: authguard.NewReplays(cfg.MaxReplays)}
	h.mux.HandleFunc(Route, h.receive)
	h.mux.HandleFunc(PathPrefix, h.other)
	return h, nil
}

// ServeHTTP answers POST /webhooks/{tenant}/{source}; anything else under
// /webhooks/ is a JSON 404 or 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) other(w http.ResponseWriter, r *http.Request) {
	if parts := strings.Split(strings.TrimPrefix(r.URL.Path, PathPrefix), "/"); len(parts) == 2 && parts[0] != "" && parts[1] != "" {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "CRM webhooks are POSTed")
		return
	}
	writeError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
}

// plan is what a notification asks for.
type plan struct {
	deletes []string
	sync    bool
}

func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	tenantID, source := r.PathValue("tenant"), r.PathValue("source")
	crmType := "unknown"
	result := "accepted"
	defer func() {
		if h.Metrics != nil {
			h.Metrics.CRMWebhooks.WithLabelValues(crmType, result).Inc()
		}
	}()
	log := h.Log.With("tenant", tenantID, "source", source)

	conn, opts, ok := h.lookup(tenantID, source, log)
	if !ok {
		result = "unknown"
		writeError(w, http.StatusNotFound, "not_found", "no CRM webhook for this tenant and source")
		return
	}
	crmType = conn.Type
	if retry, ok := h.Guard.Allow(r.RemoteAddr, tenantID); !ok {
		result = "throttled"
		authguard.SetRetryAfter(w, retry)
		writeError(w, http.StatusTooManyRequests, "too_many_failures", "too many failed signatures or credentials; retry later")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			result = "malformed"
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body over %d bytes", h.cfg.MaxBody))
			return
		}
		result = "malformed"
		writeError(w, http.StatusBadRequest, "bad_request", "cannot read body")
		return
	}

	var p plan
	// replayKey is the signature this request used up; it is given back
	// if the notification cannot be applied, so that the CRM's retry of
	// the same request is taken.
	var replayKey string
	switch conn.Type {
	case TypeHubSpot:
		now := h.cfg.Now()
		sig, signed, err := verifyHubSpot(r, body, opts.WebhookSecret, opts.WebhookURL, now, h.cfg.MaxAge)
		if err != nil {
			result = "unauthorized"
			h.Guard.Fail(authguard.KindWebhookSignature, r.RemoteAddr, tenantID)
			log.Warn("crm webhook refused", "crm", conn.Type, "err", err)
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid or stale HubSpot signature")
			return
		}
		// Remembered until its timestamp is refused anyway.
		switch err := h.replays.First(sig, now, signed.Add(h.cfg.MaxAge)); {
		case errors.Is(err, authguard.ErrReplayed):
			result = "replayed"
			h.Guard.Fail(authguard.KindWebhookReplay, r.RemoteAddr, tenantID)
			log.Warn("crm webhook refused", "crm", conn.Type, "err", err)
			writeError(w, http.StatusUnauthorized, "unauthorized", "HubSpot signature already used")
			return
		case err != nil:
			result = "failed"
			log.Error("crm webhook not taken; the CRM will send it again", "crm", conn.Type, "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot take the notification now")
			return
		}
		replayKey = sig
		p, err = parseHubSpot(body, portalOf(conn))
		if err != nil {
			result = "malformed"
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	case TypePipedrive:
		if !checkBasicAuth(r, opts.WebhookUser, opts.WebhookPassword) {
			h.Guard.Fail(authguard.KindWebhookSignature, r.RemoteAddr, tenantID)
			result = "unauthorized"
			log.Warn("crm webhook refused", "crm", conn.Type, "err", "basic auth mismatch")
			w.Header().Set("WWW-Authenticate", `Basic realm="calldex webhooks", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
			return
		}
		if p, err = parsePipedrive(body); err != nil {
			result = "malformed"
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
			return
		}
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.Timeout)
	defer cancel()
	if err := h.apply(ctx, tenantID, source, p); err != nil {
		h.replays.Forget(replayKey)
		result = "failed"
		log.Error("crm webhook not applied; the CRM will send it again", "crm", conn.Type, "err", err)
		// 5xx makes the CRM retry the notification later.
		writeError(w, http.StatusServiceUnavailable, "unavailable", "cannot apply the notification now")
		return
	}
	log.Debug("crm webhook applied", "crm", conn.Type, "deletes", len(p.deletes), "sync", p.sync)
	w.WriteHeader(http.StatusNoContent)
}

// lookup finds the source's connector and its webhook settings; false if
// the tenant, the connector or its webhook credentials do not exist.
func (h *Handler) lookup(tenantID, source string, log *slog.Logger) (tenant.Connector, crmsync.SourceOptions, bool) {
	if events.ValidID(tenantID) != nil || events.ValidID(source) != nil {
		return tenant.Connector{}, crmsync.SourceOptions{}, false
	}
	t, ok := h.Tenants.Tenant(tenantID)
	if !ok {
		return tenant.Connector{}, crmsync.SourceOptions{}, false
	}
	conn, ok := t.Connectors[source]
	if !ok {
		return conn, crmsync.SourceOptions{}, false
	}
	opts, err := crmsync.ParseSourceOptions(conn.Options)
	if err != nil {
		log.Error("crm webhook: connector options", "err", err)
		return conn, opts, false
	}
	switch {
	case conn.Type == TypeHubSpot && opts.WebhookSecret != "":
	case conn.Type == TypePipedrive && opts.WebhookUser != "":
	default:
		// Not a CRM that notifies, or no credentials to check it with:
		// an unauthenticated endpoint is no endpoint.
		return conn, opts, false
	}
	return conn, opts, true
}

// apply publishes the tombstones (acked) and asks for a sync.
func (h *Handler) apply(ctx context.Context, tenantID, source string, p plan) error {
	for _, id := range p.deletes {
		if _, err := h.Contacts.Delete(ctx, tenantID, source, id); err != nil {
			return err
		}
	}
	if p.sync {
		return h.Trigger.SyncNow(ctx, tenantID, source)
	}
	return nil
}

// writeError answers the API's error envelope (httpjson).
var writeError = httpjson.WriteError
