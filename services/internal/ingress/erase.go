package ingress

import (
	"errors"
	"net/http"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/phone"
	"github.com/calldex/calldex/shared/tenant"
)

// adminErase removes a number from the index, CONTACTS, CALLS, WORKFLOWS,
// DLQ, workflow results and App Connect's call logs (package erasure), and
// answers what it removed, by store. The number may be written in any form
// the tenant's region reads.
func (s *Server) adminErase(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	e164, err := phone.Normalize(r.PathValue("number"), t.PhoneOptions())
	if err != nil {
		fail(w, errors.Join(errBadRequest, errors.New("not a valid phone number")))
		return
	}
	rep, err := s.Eraser.Erase(r.Context(), t.ID, e164, t.PhoneOptions())
	switch {
	case errors.Is(err, events.ErrInvalid):
		fail(w, errors.Join(errBadRequest, err))
	case err != nil:
		s.Log.Error("erasure incomplete", "tenant", t.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "erasure_incomplete", "the erasure did not complete; run it again (repeating it is safe)")
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}
