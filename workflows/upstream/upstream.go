package upstream

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/httpcall"
)

// Connector asks one upstream lookup service. It is safe for concurrent use.
type Connector struct {
	cfg  Config
	http *httpcall.Caller
}

var _ crm.PhoneSearcher = (*Connector)(nil)

// New returns a connector using client for every request. The client must
// not retry (a lookup is on the ringing path; the caller decides).
func New(cfg Config, client *resty.Client) (*Connector, error) {
	cfg.setDefaults()
	if err := errors.Join(cfg.Validate(), httpcall.CheckClient(client)); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	return &Connector{cfg: cfg, http: &httpcall.Caller{
		Client:  client,
		Name:    "upstream",
		Timeout: cfg.Timeout,
		Auth:    func(r *resty.Request) { r.SetHeader(cfg.Header, cfg.Token) },
	}}, nil
}

// entry is one element of the lookup answer.
type entry struct {
	Name         string            `json:"name"`
	Company      string            `json:"company"`
	ContactURI   string            `json:"contactUri"`
	CompanyURI   string            `json:"companyUri"`
	ID           json.RawMessage   `json:"id"`
	CRMName      string            `json:"crmName"`
	CRMLogo      string            `json:"crmLogo"`
	CustomData   events.CustomData `json:"customData"`
	CustomFields events.CustomData `json:"customFields"`
}

// SearchPhone asks the service for the first MaxLookups distinct numbers
// (as digits, the way peoplefone sends them) until one answers entries.
func (c *Connector) SearchPhone(ctx context.Context, numbers []string) ([]events.Contact, error) {
	seen := map[string]bool{}
	asked := 0
	for _, n := range numbers {
		digits := digitsOf(n)
		if digits == "" || seen[digits] {
			continue
		}
		seen[digits] = true
		if asked == c.cfg.MaxLookups {
			break
		}
		asked++
		entries, err := c.lookup(ctx, digits)
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			continue
		}
		out := make([]events.Contact, 0, len(entries))
		for i, e := range entries {
			out = append(out, c.toContact(e, strings.TrimSpace(n), digits, i))
		}
		return out, nil
	}
	return nil, nil
}

// digitsOf keeps the digits of a number, without an extension (";ext=").
func digitsOf(n string) string {
	if i := strings.IndexAny(n, ";,"); i >= 0 {
		n = n[:i]
	}
	var b strings.Builder
	for _, r := range n {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (c *Connector) lookup(ctx context.Context, digits string) ([]entry, error) {
	const op = "lookup"
	req := httpcall.Request{Method: http.MethodPost, URL: strings.TrimRight(c.cfg.URL, "/") + "/Lookup",
		Body: map[string]any{"inputs": map[string]string{"phoneNumber": digits}}}
	if c.cfg.Legacy {
		req = httpcall.Request{Method: http.MethodGet, URL: c.cfg.URL, Query: url.Values{"PhoneNumber": {digits}}}
	}
	resp, err := c.http.Do(ctx, op, req, nil)
	if resp != nil && resp.StatusCode() == http.StatusNotFound {
		// The spec: "the 404 status code will means the Phone lookup
		// service is not accessible" (no match is 200 []).
		return nil, c.http.Wrap(op, crm.Transient(fmt.Errorf("service not accessible (404): %.300s", resp.Body())))
	}
	if err != nil {
		return nil, err
	}
	raw := strings.TrimSpace(string(resp.Body()))
	if raw == "" || raw == "null" {
		return nil, nil
	}
	var entries []entry
	if err := json.Unmarshal([]byte(raw), &entries); err != nil {
		return nil, c.http.Wrap(op, crm.Transient(fmt.Errorf("malformed JSON answer (HTTP %d, %s), want an array: %w",
			resp.StatusCode(), resp.Header().Get("Content-Type"), err)))
	}
	return entries, nil
}

// toContact maps an entry. The number asked is kept as the contact's phone
// (the service found the contact under it); an entry without an id gets
// its contactUri, else "<digits>-<i>", so that it can still be told apart.
func (c *Connector) toContact(e entry, number, digits string, i int) events.Contact {
	ct := events.Contact{
		ID:         idOf(e.ID),
		Source:     c.cfg.Source,
		Type:       "contact",
		Name:       strings.TrimSpace(e.Name),
		Company:    strings.TrimSpace(e.Company),
		ContactURI: e.ContactURI,
		CompanyURI: e.CompanyURI,
		CRMName:    cmp.Or(e.CRMName, c.cfg.CRMName),
		CRMLogo:    cmp.Or(e.CRMLogo, c.cfg.CRMLogo),
		CustomData: e.CustomData,
		Phones:     []events.Phone{{Raw: number}},
		UpdatedAt:  crm.Now().UTC(),
	}
	if len(ct.CustomData) == 0 {
		ct.CustomData = e.CustomFields
	}
	if ct.ID == "" {
		ct.ID = cmp.Or(e.ContactURI, digits+"-"+strconv.Itoa(i))
	}
	return ct
}

// idOf reads an id given as a JSON string or number.
func idOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}
