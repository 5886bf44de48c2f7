package ingress

import (
	"errors"
	"net/http"
	"strings"

	"github.com/calldex/calldex/shared/risk"
	"github.com/calldex/calldex/shared/tenant"
)

// pbxAnswer is the While1 PBX webservice answer. Fields are pointers because
// the PBX expects null, not "", for what is unknown.
type pbxAnswer struct {
	ID              *string `json:"id"`
	Name            *string `json:"name"`
	BackendLink     *string `json:"backend_link"`
	DirectLine      *string `json:"direct_line"`
	QueuePosition   *int    `json:"queue_position"`
	RouteIdentifier *string `json:"route_identifier"`
	OutboundNumber  *string `json:"outbound_number,omitempty"`
	Language        *string `json:"language,omitempty"`
	ExternalID      *string `json:"external_id,omitempty"`
	// Risk is the caller's risk signal, absent when there is none.
	Risk *risk.Assessment `json:"risk,omitempty"`
}

// pbxLookup answers GET ?telephone=&dnid=: the best match as one object, or
// every field null (still 200) when the caller is unknown.
func (s *Server) pbxLookup(w http.ResponseWriter, r *http.Request, t *tenant.Tenant) {
	q := r.URL.Query()
	number := q.Get("telephone")
	if strings.TrimSpace(number) == "" {
		fail(w, errors.Join(errBadRequest, errors.New("query parameter telephone is required")))
		return
	}
	res, err := s.Lookup.Lookup(r.Context(), t, dialectPBX, number, q.Get("dnid"))
	if err != nil {
		lookupFailed(w)
		return
	}
	var out pbxAnswer
	if len(res.Matches) > 0 {
		c := res.Matches[0].Contact
		link := c.ContactURI
		out = pbxAnswer{
			ID: &c.ID, Name: &c.Name, BackendLink: &link,
			DirectLine:      optional(c.Routing.DirectLine),
			QueuePosition:   c.Routing.QueuePosition,
			RouteIdentifier: optional(c.Routing.RouteIdentifier),
			OutboundNumber:  optional(c.Routing.OutboundNumber),
			Language:        optional(c.Routing.Language),
		}
		for _, kv := range c.CustomData {
			if kv.Key == "external_id" {
				out.ExternalID = optional(kv.Value)
			}
		}
	}
	if !res.Risk.IsZero() {
		out.Risk = &res.Risk
		if route := t.Risk.HighRiskRoute; res.Risk.High {
			// The PBX routes by these: a high-risk caller goes where the
			// tenant chose (a voicemail, say) instead of the contact's line.
			if route.RouteIdentifier != "" {
				out.RouteIdentifier = &route.RouteIdentifier
			}
			if route.DirectLine != "" {
				out.DirectLine = &route.DirectLine
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
