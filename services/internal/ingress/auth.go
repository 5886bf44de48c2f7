package ingress

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/adminauth"
	"github.com/calldex/calldex/services/internal/authguard"
	"github.com/calldex/calldex/shared/audit"
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

// adminAuth checks the admin bearer token and the tenant of the path, and
// records the request, whatever its outcome, on the AUDIT stream: every
// admin route goes through here.
func (s *Server) adminAuth(next func(http.ResponseWriter, *http.Request, *tenant.Tenant)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		actor := "none"
		defer func() { s.audit(r, actor, sw.code) }()
		if a, ok := adminauth.Actor(r.Context()); ok {
			// The console's logged-in operator: authenticated in process.
			actor = a
		} else {
			if retry, ok := s.Guard.Allow(r.RemoteAddr, r.PathValue("tenant")); !ok {
				throttled(sw, retry)
				return
			}
			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !s.Config.CheckAdmin(token) {
				s.Guard.Fail(authguard.KindAdminToken, r.RemoteAddr, r.PathValue("tenant"))
				fail(sw, tenant.ErrUnauthenticated)
				return
			}
			actor = "admin-token"
		}
		if r.Pattern != "" && !strings.Contains(r.Pattern, "{tenant}") {
			next(sw, r, nil) // a route of no tenant
			return
		}
		t, ok := s.Tenants.Tenant(r.PathValue("tenant"))
		if !ok {
			writeError(sw, http.StatusNotFound, "unknown_tenant", "no tenant "+r.PathValue("tenant"))
			return
		}
		next(sw, r, t)
	}
}

// auditTimeout bounds the wait for the AUDIT stream's ack.
const auditTimeout = 3 * time.Second

// audit records an admin request: its route, path values, client address
// and answer; never its credential, query or body.
func (s *Server) audit(r *http.Request, actor string, status int) {
	if s.Audit == nil {
		return
	}
	target := map[string]string{}
	for _, name := range []string{"tenant", "id", "source"} {
		if v := r.PathValue(name); v != "" {
			target[name] = v
		}
	}
	if v := r.PathValue("number"); v != "" {
		// An erased number must not live on in the audit.
		target["number"] = audit.MaskNumber(v)
	}
	e := events.AuditEntry{Actor: actor, Via: events.ViaAPI, Action: r.Pattern, Target: target,
		Outcome: audit.OutcomeOf(status), Status: status, Remote: authguard.Address(r.RemoteAddr)}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
	defer cancel()
	if err := s.Audit.Record(ctx, r.PathValue("tenant"), e); err != nil {
		s.Log.Error("admin action not audited", "action", e.Action, "outcome", e.Outcome, "err", err)
	}
}

// throttled answers a request refused for its address's failures.
func throttled(w http.ResponseWriter, retry time.Duration) {
	authguard.SetRetryAfter(w, retry)
	writeError(w, http.StatusTooManyRequests, "too_many_failures", "too many failed credentials; retry later")
}
