package tenantadmin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/calldex/calldex/services/internal/adminauth"
	"github.com/calldex/calldex/services/internal/httpjson"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/shared/tenantstore"
)

// Store keeps tenant definitions (*tenantstore.Store).
type Store interface {
	Prepare(t tenant.Tenant) (tenant.Tenant, []tenant.Problem)
	Put(ctx context.Context, t tenant.Tenant) (tenantstore.Entry, error)
	Get(ctx context.Context, id string) (tenantstore.Entry, error)
	Delete(ctx context.Context, id string) error
	List(ctx context.Context) ([]tenantstore.Entry, error)
}

// Admin checks an admin bearer token (*tenant.Config, as the other admin
// routes).
type Admin interface {
	CheckAdmin(token string) bool
}

var (
	_ Store = (*tenantstore.Store)(nil)
	_ Admin = (*tenant.Config)(nil)
)

// Patterns are the routes Handler serves, to mount on the admin mux:
//
//	for _, p := range tenantadmin.Patterns { mux.Handle(p, h) }
var Patterns = []string{
	"GET /admin/v1/tenants",
	"PUT /admin/v1/tenants/{id}",
	"GET /admin/v1/tenants/{id}",
	"DELETE /admin/v1/tenants/{id}",
	"GET /admin/v1/tenants/{id}/check",
}

// maxBody bounds a tenant definition.
const maxBody = 1 << 20

// Handler serves the tenant admin routes.
type Handler struct {
	store Store
	admin Admin
	log   *slog.Logger
	mux   *http.ServeMux
}

// New returns the handler; log defaults to slog.Default().
func New(store Store, admin Admin, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{store: store, admin: admin, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc(Patterns[0], h.list)
	h.mux.HandleFunc(Patterns[1], h.put)
	h.mux.HandleFunc(Patterns[2], h.get)
	h.mux.HandleFunc(Patterns[3], h.delete)
	h.mux.HandleFunc(Patterns[4], h.check)
	return h
}

// ServeHTTP checks the admin token, then serves the route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if _, inProcess := adminauth.Actor(r.Context()); !inProcess && (!ok || !h.admin.CheckAdmin(token)) {
		writeError(w, http.StatusUnauthorized, "unauthorized", tenant.ErrUnauthenticated.Error())
		return
	}
	h.mux.ServeHTTP(w, r)
}

// invalidTenant is the error envelope of a refused tenant, with every
// problem it has.
type invalidTenant struct {
	Error    httpjson.ErrorBody `json:"error"`
	Problems []tenant.Problem   `json:"problems,omitempty"`
}

// writeJSON and writeError are the admin API's answers (httpjson).
var (
	writeJSON  = httpjson.Write
	writeError = httpjson.WriteError
)

// fail answers a store error.
func (h *Handler) fail(w http.ResponseWriter, err error) {
	var inv *tenantstore.InvalidError
	switch {
	case errors.As(err, &inv):
		writeJSON(w, http.StatusUnprocessableEntity, invalidTenant{
			Error:    httpjson.ErrorBody{Code: "invalid_tenant", Message: "the tenant has problems; none was stored"},
			Problems: inv.Problems,
		})
	case errors.Is(err, tenantstore.ErrNotFound):
		writeError(w, http.StatusNotFound, "unknown_tenant", err.Error())
	default:
		h.log.Error("tenant store unavailable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "tenant_store_unavailable", "the tenant store did not answer; retry")
	}
}

type summary struct {
	ID       string `json:"id"`
	Revision uint64 `json:"revision"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	all, err := h.store.List(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]summary, len(all))
	for i, e := range all {
		out[i] = summary{ID: e.Tenant.ID, Revision: e.Revision}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

// put reads a tenant in YAML or JSON (JSON is YAML): unknown fields and
// wrong types are problems too, reported with the store's.
func (h *Handler) put(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	t, ps := tenant.DecodeTenant(raw)
	if ps == nil && t.ID == "" {
		t.ID = r.PathValue("id")
	}
	if t.ID != r.PathValue("id") {
		ps = append(ps, tenant.Problem{Kind: tenant.KindInvalid, Path: "id", Message: "body id " + t.ID + " differs from path id " + r.PathValue("id")})
	}
	if len(ps) > 0 {
		// Type errors leave the rest decoded: report its problems too.
		_, more := h.store.Prepare(t)
		ps = append(ps, more...)
		h.fail(w, &tenantstore.InvalidError{ID: r.PathValue("id"), Problems: ps})
		return
	}
	e, err := h.store.Put(r.Context(), t)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": view(e.Tenant), "revision": e.Revision})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	e, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": view(e.Tenant), "revision": e.Revision})
}

// check answers the problems the stored tenant has now, as a write of it
// would (a ${VAR} this replica lacks, a connector option no longer valid).
func (h *Handler) check(w http.ResponseWriter, r *http.Request) {
	e, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	_, ps := h.store.Prepare(e.Tenant)
	if ps == nil {
		ps = []tenant.Problem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": e.Tenant.ID, "revision": e.Revision, "problems": ps})
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.store.Delete(r.Context(), r.PathValue("id")); err != nil {
		h.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// view is a tenant as answers show it: field names as in the YAML file,
// secrets masked.
func view(t tenant.Tenant) map[string]any {
	t = tenantstore.Mask(t)
	var out map[string]any
	data, _ := yaml.Marshal(&t)
	_ = yaml.Unmarshal(data, &out)
	return out
}
