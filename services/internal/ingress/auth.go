package ingress

import (
	"net/http"
	"strings"

	"github.com/calldex/calldex/shared/tenant"
)

// tenantAuth resolves the tenant from the request's credential.
func (s *Server) tenantAuth(next func(http.ResponseWriter, *http.Request, *tenant.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := s.Tenants.Authenticate(r)
		if err != nil {
			fail(w, err)
			return
		}
		next(w, r, t)
	}
}

// adminAuth checks the admin bearer token and the tenant of the path.
func (s *Server) adminAuth(next func(http.ResponseWriter, *http.Request, *tenant.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.Config.CheckAdmin(token) {
			fail(w, tenant.ErrUnauthenticated)
			return
		}
		t, ok := s.Tenants.Tenant(r.PathValue("tenant"))
		if !ok {
			writeError(w, http.StatusNotFound, "unknown_tenant", "no tenant "+r.PathValue("tenant"))
			return
		}
		next(w, r, t)
	}
}
