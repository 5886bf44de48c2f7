package ingress

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// riskScan is how many of the busiest numbers GET /admin/v1/risk scores.
const riskScan = 5000

// riskThresholds are the thresholds of ?tenant=, else the defaults; false
// when the tenant is unknown (answered).
func (s *Server) riskThresholds(w http.ResponseWriter, r *http.Request) (*tenant.Tenant, risk.Thresholds, bool) {
	id := r.URL.Query().Get("tenant")
	if id == "" {
		return nil, risk.Thresholds{}, true
	}
	t, ok := s.Tenants.Tenant(id)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown_tenant", "no tenant "+id)
		return nil, risk.Thresholds{}, false
	}
	return t, t.Risk.Thresholds, true
}

// adminRiskExplain answers GET /admin/v1/risk/{number}[?tenant=]: the
// number's counts over the last hour, its facts, and every rule with
// whether it fired, at the tenant's thresholds or the defaults. Without a
// tenant the number is read as international (+ optional).
func (s *Server) adminRiskExplain(w http.ResponseWriter, r *http.Request, _ *tenant.Tenant) {
	t, th, ok := s.riskThresholds(w, r)
	if !ok {
		return
	}
	number := r.PathValue("number")
	// A number with + reads the same in any region.
	opts := phone.Options{Region: "CH"}
	if t != nil {
		opts = t.PhoneOptions()
	} else if !strings.HasPrefix(number, "+") {
		number = "+" + number
	}
	e164, err := phone.Normalize(number, opts)
	if err != nil {
		fail(w, errors.Join(errBadRequest, err))
		return
	}
	ex, err := risk.Explain(r.Context(), s.Risk, e164, th)
	if err != nil {
		s.Log.Error("risk explain", "err", err)
		writeError(w, http.StatusServiceUnavailable, "risk_unavailable", "the risk store did not answer")
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

// adminRiskTop answers GET /admin/v1/risk[?limit=20&tenant=]: the riskiest
// numbers of the last hour, at the tenant's thresholds or the defaults.
func (s *Server) adminRiskTop(w http.ResponseWriter, r *http.Request, _ *tenant.Tenant) {
	_, th, ok := s.riskThresholds(w, r)
	if !ok {
		return
	}
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(w, errors.Join(errBadRequest, errors.New("limit must be between 1 and 1000")))
			return
		}
		limit = n
	}
	top, err := risk.Riskiest(r.Context(), s.Risk, riskScan, limit, th)
	if err != nil {
		s.Log.Error("risk top", "err", err)
		writeError(w, http.StatusServiceUnavailable, "risk_unavailable", "the risk store did not answer")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"numbers": top})
}
