package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/tenant"
	"github.com/calldex/calldex/workflows/crmsync"
	"github.com/calldex/calldex/workflows/deadletter"
)

// NameSearcher finds a tenant's contacts by name (the index).
type NameSearcher interface {
	SearchName(ctx context.Context, tenant, query string, limit int) ([]events.Contact, error)
}

// Runs reads recent workflow results (*dispatch.Dispatcher).
type Runs interface {
	Recent(ctx context.Context, tenant string, limit int) ([]events.WorkflowResult, error)
}

// Sources reads the status of a tenant's sync sources.
type Sources interface {
	SourceStatuses(ctx context.Context, t *tenant.Tenant) ([]crmsync.Status, error)
}

// DeadLetters lists and redrives the DLQ (*deadletter.Store).
type DeadLetters interface {
	TenantFilter(tenant string) string
	List(ctx context.Context, filter string, limit int) ([]deadletter.Letter, error)
	Get(ctx context.Context, id uint64) (deadletter.Letter, error)
	Redrive(ctx context.Context, letters []deadletter.Letter, progress func(done, total int)) deadletter.Report
}

var _ DeadLetters = (*deadletter.Store)(nil)

// defaultListLimit and maxListLimit bound the lists the operations routes
// answer (?limit=).
const (
	defaultListLimit = 50
	maxListLimit     = 1000
)

func listLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, errors.Join(errBadRequest, fmt.Errorf("limit %q: want 1 to %d", v, maxListLimit))
	}
	return n, nil
}

// foundContact is a contact a search found, with how.
type foundContact struct {
	// Kind is how a number matched (exact, tail, …) or "name".
	Kind    string         `json:"kind"`
	Contact events.Contact `json:"contact"`
}

// adminSearchContacts finds contacts by number (the lookup core, as
// lookups rank them) or, when q holds no digit, by name.
func (s *Server) adminSearchContacts(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	limit, err := listLimit(r)
	if q == "" || err != nil {
		fail(w, errors.Join(errBadRequest, errors.New("query parameter q (a name or number) is required"), err))
		return
	}
	out := []foundContact{}
	if strings.ContainsAny(q, "0123456789") {
		res, err := s.Lookup.Service().Lookup(r.Context(), t, q)
		if err != nil {
			lookupFailed(w)
			return
		}
		for _, m := range res.Matches {
			out = append(out, foundContact{Kind: m.Kind.String(), Contact: m.Contact})
		}
	} else {
		cs, err := s.Names.SearchName(r.Context(), t.ID, q, limit)
		if err != nil {
			lookupFailed(w)
			return
		}
		for _, c := range cs {
			out = append(out, foundContact{Kind: "name", Contact: c})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": t.ID, "q": q, "contacts": out})
}

func (s *Server) adminSources(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	st, err := s.Sources.SourceStatuses(r.Context(), t)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": t.ID, "sources": st})
}

func (s *Server) adminWorkflowRuns(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	limit, err := listLimit(r)
	if err != nil {
		fail(w, err)
		return
	}
	runs, err := s.Runs.Recent(r.Context(), t.ID, limit)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": t.ID, "runs": runs})
}

func (s *Server) adminDeadLetters(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	limit, err := listLimit(r)
	if err != nil {
		fail(w, err)
		return
	}
	letters, err := s.DeadLetters.List(r.Context(), s.DeadLetters.TenantFilter(t.ID), limit)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant": t.ID, "deadLetters": letters})
}

// redriveRequest names the dead letters to redrive: IDs, or all of the
// tenant's.
type redriveRequest struct {
	IDs []uint64 `json:"ids"`
	All bool     `json:"all"`
}

// adminRedrive puts a tenant's dead letters back on their subjects; a
// dead letter of another tenant is not found.
func (s *Server) adminRedrive(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	var req redriveRequest
	if err := decodeJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if req.All == (len(req.IDs) > 0) {
		fail(w, errors.Join(errBadRequest, errors.New(`name the dead letters: "ids" or "all": true (one of them)`)))
		return
	}
	var letters []deadletter.Letter
	if req.All {
		var err error
		if letters, err = s.DeadLetters.List(r.Context(), s.DeadLetters.TenantFilter(t.ID), 0); err != nil {
			s.unavailable(w, err)
			return
		}
	}
	for _, id := range req.IDs {
		d, err := s.DeadLetters.Get(r.Context(), id)
		if errors.Is(err, deadletter.ErrNotFound) || err == nil && d.Tenant != t.ID {
			writeError(w, http.StatusNotFound, "unknown_dead_letter", fmt.Sprintf("no dead letter %d of tenant %s", id, t.ID))
			return
		}
		if err != nil {
			s.unavailable(w, err)
			return
		}
		letters = append(letters, d)
	}
	rep := s.DeadLetters.Redrive(r.Context(), letters, nil)
	code := http.StatusOK
	if rep.Err() != nil {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}
