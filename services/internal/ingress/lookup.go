package ingress

import (
	"context"
	"net/http"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/shared/contact"
	"github.com/calldex/calldex/shared/lookup"
	"github.com/calldex/calldex/shared/tenant"
)

// Dialect names, as used in metrics and call.lookup events.
const (
	dialectPeoplefone   = "peoplefone"
	dialectPeoplefoneV1 = "peoplefone_v1"
	dialectPBX          = "pbx"
)

// lookup runs the core lookup and records it: metrics, and a call.lookup
// event queued without waiting.
func (s *Server) lookup(ctx context.Context, t *tenant.Tenant, dialect, number, dnid string) (lookup.Result, error) {
	start := time.Now()
	res, err := s.Lookup.Lookup(ctx, t, number)
	took := time.Since(start)
	s.Metrics.LookupSeconds.WithLabelValues(dialect).Observe(took.Seconds())
	result := "miss"
	switch {
	case err != nil:
		result = "error"
		s.Log.Error("lookup failed", "tenant", t.ID, "dialect", dialect, "err", err)
	case len(res.Matches) > 0:
		result = "hit"
	}
	s.Metrics.Lookups.WithLabelValues(dialect, result).Inc()
	if err == nil {
		ev := events.CallLookup{Dialect: dialect, Number: number, DNID: dnid, Hits: len(res.Matches), Latency: took}
		if len(res.Matches) > 0 {
			ev.ContactID = res.Matches[0].Contact.ID
		}
		s.Events.Publish(s.Topology.CallSubject(t.ID, "lookup"),
			events.Envelope{ID: contact.NewID(), Type: events.TypeCallLookup, Tenant: t.ID, Time: start.UTC(), SchemaVersion: events.SchemaVersion}, ev)
	}
	return res, err
}

// lookupFailed answers a lookup whose index failed: 503, so the phone system
// shows "unknown" at once instead of waiting for its timeout.
func lookupFailed(w http.ResponseWriter) {
	writeError(w, http.StatusServiceUnavailable, "index_unavailable", "the contact index is not reachable")
}
