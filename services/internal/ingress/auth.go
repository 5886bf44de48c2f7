package ingress

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/shared/tenant"
)

// tenantAuth resolves the tenant from the request's credential. An address
// that failed too often is refused before its credential is looked at.
func (s *Server) tenantAuth(next func(http.ResponseWriter, *http.Request, *tenant.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retry, ok := s.Guard.Allow(r.RemoteAddr, ""); !ok {
			throttled(w, retry)
			return
		}
		t, err := s.Tenants.Authenticate(r)
		if err != nil {
			if errors.Is(err, tenant.ErrUnauthenticated) {
				s.Guard.Fail(authguard.KindTenantCredential, r.RemoteAddr, "")
			}
			fail(w, err)
			return
		}
		next(w, r, t)
	}
}

// adminAuth checks the admin bearer token and the tenant of the path.
func (s *Server) adminAuth(next func(http.ResponseWriter, *http.Request, *tenant.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if retry, ok := s.Guard.Allow(r.RemoteAddr, r.PathValue("tenant")); !ok {
			throttled(w, retry)
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.Config.CheckAdmin(token) {
			s.Guard.Fail(authguard.KindAdminToken, r.RemoteAddr, r.PathValue("tenant"))
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

// throttled answers a request refused for its address's failures.
func throttled(w http.ResponseWriter, retry time.Duration) {
	authguard.SetRetryAfter(w, retry)
	writeError(w, http.StatusTooManyRequests, "too_many_failures", "too many failed credentials; retry later")
}
