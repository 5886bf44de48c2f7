package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/httpcall"
)

// CRMName is the crmName of every contact this connector produces.
const CRMName = "HubSpot"

// Connector talks to one HubSpot portal. It is safe for concurrent use.
type Connector struct {
	cfg  Config
	http *httpcall.Caller
	base string
	app  string
}

// The capabilities HubSpot supports.
var (
	_ crm.ChangeLister      = (*Connector)(nil)
	_ crm.PhoneSearcher     = (*Connector)(nil)
	_ crm.NameSearcher      = (*Connector)(nil)
	_ crm.ContactCreator    = (*Connector)(nil)
	_ crm.CallLogger        = (*Connector)(nil)
	_ crm.TicketCreator     = (*Connector)(nil)
	_ crm.DispositionLogger = (*Connector)(nil)
)

// New returns a connector using client for every request. The client must
// not retry (retries belong to the caller, which knows the failure class)
// nor carry credentials of its own: it may be shared by tenants.
func New(cfg Config, client *resty.Client) (*Connector, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), httpcall.CheckClient(client)); err != nil {
		return nil, fmt.Errorf("hubspot: %w", err)
	}
	return &Connector{
		cfg: cfg,
		http: &httpcall.Caller{
			Client:     client,
			Name:       "hubspot",
			Timeout:    cfg.Timeout,
			Auth:       func(r *resty.Request) { r.SetHeader("Authorization", "Bearer "+cfg.Token) },
			RetryAfter: retryAfter,
		},
		base: strings.TrimRight(cfg.BaseURL, "/"),
		app:  strings.TrimRight(cfg.AppURL, "/"),
	}, nil
}

// do sends one request to the API path and decodes a 2xx JSON answer into
// out (when not nil). Every error is classified (crm.ErrTransient,
// crm.ErrPermanent or *crm.RetryAfterError) and names the operation.
func (c *Connector) do(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	if c.cfg.SearchLimiter != nil && strings.HasSuffix(path, "/search") {
		if err := c.cfg.SearchLimiter.Wait(ctx); err != nil {
			return fmt.Errorf("hubspot %s: %w", op, err)
		}
	}
	_, err := c.http.Do(ctx, op, httpcall.Request{Method: method, URL: c.base + path, Query: query, Body: body}, out)
	return err
}

// rateLimitBody is HubSpot's 429 answer
// (developers.hubspot.com/docs/api/usage-details).
type rateLimitBody struct {
	Status     string `json:"status"`
	Message    string `json:"message"`
	ErrorType  string `json:"errorType"`
	PolicyName string `json:"policyName"`
}

// retryAfter is the server's Retry-After, or for a 429 without one a delay
// derived from the limit that was hit.
func retryAfter(resp *resty.Response) time.Duration {
	if d := crm.ParseRetryAfter(resp.Header().Get("Retry-After")); d > 0 {
		return d
	}
	if resp.StatusCode() != http.StatusTooManyRequests {
		return 0
	}
	var rl rateLimitBody
	_ = json.Unmarshal(resp.Body(), &rl)
	switch rl.PolicyName {
	case "SECONDLY":
		return time.Second
	case "TEN_SECONDLY_ROLLING":
		if ms, err := strconv.Atoi(resp.Header().Get("X-HubSpot-RateLimit-Interval-Milliseconds")); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
		return 10 * time.Second
	case "DAILY":
		// Resets at midnight in the portal's time zone, unknown here:
		// check again hourly rather than hammering or sleeping a day.
		return time.Hour
	}
	return 0
}

// props is a CRM object's properties. HubSpot sends strings or null; other
// JSON types are tolerated so that one odd value cannot stall a sync.
type props map[string]any

func (p props) get(key string) string {
	switch v := p[key].(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	default:
		return fmt.Sprint(v)
	}
}

// object is a CRM record as every v3 object endpoint returns it.
type object struct {
	ID         string `json:"id"`
	Properties props  `json:"properties"`
	CreatedAt  string `json:"createdAt"`
	UpdatedAt  string `json:"updatedAt"`
	Archived   bool   `json:"archived"`
	ArchivedAt string `json:"archivedAt"`
}

// paging is the v3 paging block.
type paging struct {
	Next *struct {
		After string `json:"after"`
		Link  string `json:"link"`
	} `json:"next"`
}

func (p *paging) after() string {
	if p == nil || p.Next == nil {
		return ""
	}
	return p.Next.After
}

// searchResponse is the answer of every POST /crm/v3/objects/*/search.
type searchResponse struct {
	Total   int      `json:"total"`
	Results []object `json:"results"`
	Paging  *paging  `json:"paging"`
}

// listResponse is the answer of GET /crm/v3/objects/*.
type listResponse struct {
	Results []object `json:"results"`
	Paging  *paging  `json:"paging"`
}

// filter and the types below are the search request body
// (developers.hubspot.com/docs/api/crm/search).
type filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value,omitempty"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type sort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type searchRequest struct {
	FilterGroups []filterGroup `json:"filterGroups,omitempty"`
	Sorts        []sort        `json:"sorts,omitempty"`
	Query        string        `json:"query,omitempty"`
	Properties   []string      `json:"properties,omitempty"`
	Limit        int           `json:"limit"`
	After        string        `json:"after,omitempty"`
}

// parseTime reads HubSpot's timestamps: ISO 8601 (properties and
// createdAt/updatedAt) or Unix milliseconds (some date properties).
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

// recordURL is the UI page of a record, {appURL}/contacts/{portalId}/record/{objectTypeId}/{id}.
func (c *Connector) recordURL(objectTypeID, id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf("%s/contacts/%d/record/%s/%s", c.app, c.cfg.PortalID, objectTypeID, url.PathEscape(id))
}

// Object type ids of the records we link to.
const (
	typeContact = "0-1"
	typeTicket  = "0-5"
)
