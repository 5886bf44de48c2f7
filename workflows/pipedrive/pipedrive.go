package pipedrive

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
	"github.com/calldex/calldex/workflows/crm/accountlimit"
	"github.com/calldex/calldex/workflows/crm/httpcall"
)

// CRMName is the crmName of every contact this connector produces.
const CRMName = "Pipedrive"

// Connector talks to one Pipedrive company. It is safe for concurrent use.
type Connector struct {
	cfg  Config
	http *httpcall.Caller
	base string
	app  string
}

// The capabilities Pipedrive supports; it has no tickets.
var (
	_ crm.ChangeLister      = (*Connector)(nil)
	_ crm.PhoneSearcher     = (*Connector)(nil)
	_ crm.NameSearcher      = (*Connector)(nil)
	_ crm.ContactCreator    = (*Connector)(nil)
	_ crm.CallLogger        = (*Connector)(nil)
	_ crm.DispositionLogger = (*Connector)(nil)
)

// New returns a connector using client for every request. The client must
// not retry (retries belong to the caller) nor carry credentials of its own.
func New(cfg Config, client *resty.Client) (*Connector, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), httpcall.CheckClient(client)); err != nil {
		return nil, fmt.Errorf("pipedrive: %w", err)
	}
	if cfg.SearchLimiter == nil {
		// Alone, the instance still keeps to the company's search limit.
		cfg.SearchLimiter = accountlimit.New().Limiter("pipedrive/"+cfg.CompanyDomain+"/search", SearchInterval)
	}
	if cfg.Budget == nil && cfg.DailyBudget > 0 {
		cfg.Budget = accountlimit.New().Budget("pipedrive/"+cfg.CompanyDomain+"/tokens", cfg.DailyBudget)
	}
	c := &Connector{
		cfg:  cfg,
		base: apiRoot(cfg.BaseURL),
		app:  strings.TrimRight(cfg.AppURL, "/"),
	}
	c.http = &httpcall.Caller{
		Client:     client,
		Name:       "pipedrive",
		Timeout:    cfg.Timeout,
		Auth:       func(r *resty.Request) { r.SetQueryParam("api_token", cfg.APIToken) },
		RetryAfter: retryAfter,
		// The token travels in the URL: keep it out of every error.
		Redact: c.redactText,
	}
	return c, nil
}

// apiRoot is BaseURL without a trailing slash nor the version a baseURL
// written for the v1-only connector ends with: the paths carry theirs.
func apiRoot(base string) string {
	base = strings.TrimRight(base, "/")
	return strings.TrimSuffix(base, "/v1")
}

// Token costs of the calls made, charged against the company's daily
// budget. Pipedrive gives each operation's cost as x-token-cost in its
// OpenAPI specifications (openapi.yaml, openapi-v2.yaml, linked from
// developers.pipedrive.com/docs/api/v1): a v2 list costs 10, a v1 list
// 20. The search and write costs are the upper values of that scale for
// such calls: counting high keeps the count on the safe side.
const (
	costGet    = 1  // GET /v2/activities/{id}
	costList   = 10 // GET /v2/persons, /v2/activities, /v2/organizations
	costSearch = 20 // GET /v2/persons/search
	costWrite  = 5  // POST /v2/persons, /v2/activities; PATCH /v2/activities/{id}
	costV1List = 20 // GET /v1/recents (no v2 form)
)

// envelope is every answer, v1 and v2: {success, data, additional_data}
// or {success:false, error, errorCode}.
type envelope struct {
	Success        bool            `json:"success"`
	Data           json.RawMessage `json:"data"`
	AdditionalData *additionalData `json:"additional_data"`
	Error          string          `json:"error"`
	ErrorCode      any             `json:"errorCode"`
}

type additionalData struct {
	// NextCursor is v2's next page, null on the last.
	NextCursor          *string     `json:"next_cursor"`
	SinceTimestamp      string      `json:"since_timestamp"`
	LastTimestampOnPage string      `json:"last_timestamp_on_page"`
	Pagination          *pagination `json:"pagination"`
}

type pagination struct {
	Start                 int  `json:"start"`
	Limit                 int  `json:"limit"`
	MoreItemsInCollection bool `json:"more_items_in_collection"`
	NextStart             *int `json:"next_start"`
}

// more reports whether another page exists and where it starts.
func (a *additionalData) more(start, got int) (bool, int) {
	if a == nil || a.Pagination == nil || !a.Pagination.MoreItemsInCollection {
		return false, 0
	}
	if a.Pagination.NextStart != nil {
		return true, *a.Pagination.NextStart
	}
	return true, start + got
}

// next is v2's next_cursor, "" on the last page.
func (a *additionalData) next() string {
	if a == nil || a.NextCursor == nil {
		return ""
	}
	return *a.NextCursor
}

// request is one request: path carries its API version (/v1/…, /v2/…);
// cost is its token cost.
type request struct {
	op, method, path string
	cost             int
	query            url.Values
	body             any
}

// do sends one request with the api_token and decodes the envelope's data
// into out (when not nil and data is not null). A search first waits its
// turn under the company's search limit; every call is first charged to
// the daily budget. Every error is classified and names the operation;
// none contains the token.
func (c *Connector) do(ctx context.Context, r request, out any) (*additionalData, error) {
	op := r.op
	if strings.HasSuffix(r.path, "/search") {
		if err := c.cfg.SearchLimiter.Wait(ctx); err != nil {
			return nil, c.http.Wrap(op, err)
		}
	}
	if c.cfg.Budget != nil {
		if err := c.cfg.Budget.Spend(r.cost); err != nil {
			return nil, c.http.Wrap(op, err)
		}
	}
	var env envelope
	if _, err := c.http.Do(ctx, op, httpcall.Request{Method: r.method, URL: c.base + r.path, Query: r.query, Body: r.body}, &env); err != nil {
		return nil, err
	}
	if !env.Success {
		// Undocumented for a 2xx; a misclassified retry is cheaper than
		// lost work.
		return nil, c.http.Wrap(op, crm.Transient(fmt.Errorf("answer says success:false: %s", env.Error)))
	}
	if out != nil && len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return nil, c.http.Wrap(op, crm.Transient(fmt.Errorf("malformed data: %w", err)))
		}
	}
	return env.AdditionalData, nil
}

// retryAfter is Retry-After, or for a 429 x-ratelimit-reset (seconds until
// the window resets; developers.pipedrive.com rate-limiting page).
func retryAfter(resp *resty.Response) time.Duration {
	if d := crm.ParseRetryAfter(resp.Header().Get("Retry-After")); d > 0 {
		return d
	}
	if resp.StatusCode() == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header().Get("X-Ratelimit-Reset"))); err == nil && s > 0 {
			return time.Duration(s) * time.Second
		}
	}
	return 0
}

// redactText replaces the api_token, as is and query-escaped, in text
// bound for an error: a transport error prints the request URL, and an
// error answer may echo it.
func (c *Connector) redactText(s string) string {
	if c.cfg.APIToken == "" {
		return s
	}
	s = strings.ReplaceAll(s, url.QueryEscape(c.cfg.APIToken), "REDACTED")
	return strings.ReplaceAll(s, c.cfg.APIToken, "REDACTED")
}

// field is a labelled value of a person's phone or email list.
type field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// fields decodes Pipedrive's phone/email lists: an array of {label, value,
// primary}, or a bare string.
type fields []field

func (f *fields) UnmarshalJSON(b []byte) error {
	var list []field
	if err := json.Unmarshal(b, &list); err == nil {
		*f = list
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a list of {label, value} or a string: %w", err)
	}
	*f = fields{{Value: s}}
	return nil
}

// orgRef is a person's org_id: a number, or an object {name, value} in the
// answers that embed the organization.
type orgRef struct {
	ID   int64
	Name string
}

func (o *orgRef) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &o.ID); err == nil {
		return nil
	}
	var obj struct {
		Name  string `json:"name"`
		Value int64  `json:"value"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("org_id: want a number or an object: %w", err)
	}
	o.ID, o.Name = obj.Value, obj.Name
	return nil
}

// personV2 is a person as GET /v2/persons and POST /v2/persons return it
// (developers.pipedrive.com/docs/api/v2/Persons): org_id is a bare id, the
// organization's name is not included.
type personV2 struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	IsDeleted  bool    `json:"is_deleted"`
	Phones     []field `json:"phones"`
	Emails     []field `json:"emails"`
	OrgID      *int64  `json:"org_id"`
	AddTime    string  `json:"add_time"`
	UpdateTime string  `json:"update_time"`
}

// v1 turns it into the shape /v1/recents gives, which toContact maps.
func (p personV2) v1(orgName string) person {
	active := !p.IsDeleted
	v := person{ID: p.ID, Name: p.Name, ActiveFlag: &active, Phone: p.Phones, Email: p.Emails, OrgName: orgName}
	if p.OrgID != nil {
		v.OrgID = &orgRef{ID: *p.OrgID}
	}
	v.AddTime, v.UpdateTime = v1Time(p.AddTime), v1Time(p.UpdateTime)
	return v
}

// person is a v1 person as /v1/recents returns it
// (developers.pipedrive.com/docs/api/v1/Recents).
type person struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	ActiveFlag *bool   `json:"active_flag"`
	Phone      fields  `json:"phone"`
	Email      fields  `json:"email"`
	OrgID      *orgRef `json:"org_id"`
	OrgName    string  `json:"org_name"`
	AddTime    string  `json:"add_time"`
	UpdateTime string  `json:"update_time"`
}

// v1Time turns a v2 timestamp (RFC 3339) into v1's timeLayout; "" when it
// is not one.
func v1Time(s string) string {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format(timeLayout)
	}
	return ""
}

// timeLayout is Pipedrive's UTC timestamp format.
const timeLayout = "2006-01-02 15:04:05"

func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(timeLayout, strings.TrimSpace(s))
	return t.UTC(), err == nil
}
