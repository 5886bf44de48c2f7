// Package httpcall is the request plumbing of the HTTP CRM connectors: send
// a JSON request with the connector's shared resty client under the
// caller's deadline, and turn every outcome that is not a usable 2xx answer
// into an error of a crm failure class that names the operation.
//
// The classes follow crm's rules: no answer (refused, reset, timeout) is
// transient; the status decides otherwise (crm.ClassifyStatus, with the
// delay the CRM asked for); a 2xx that is not JSON is transient, since it is
// nearly always a proxy's or load balancer's page and retrying beats
// dead-lettering. What a CRM gives its own meaning (an envelope, a status
// used differently) stays in the connector, which gets the response back.
package httpcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/workflows/crm"
)

// Caller sends one connector instance's requests. Set its fields once, in
// the connector's New; it is then safe for concurrent use.
type Caller struct {
	// Client sends the requests. It must not retry (CheckClient): retries
	// belong to the caller, which knows the failure class.
	Client *resty.Client
	// Name starts every error ("hubspot"), followed by the operation.
	Name string
	// Timeout bounds each request; a shorter deadline on ctx wins.
	Timeout time.Duration
	// Auth puts the credentials on each request (a header, a query
	// parameter), after the Request's own query and headers.
	Auth func(*resty.Request)
	// RetryAfter reads how long a failed answer asks to wait, for a CRM
	// that says so elsewhere than Retry-After; nil reads Retry-After.
	RetryAfter func(*resty.Response) time.Duration
	// Redact, when set, removes secrets from text that goes into errors:
	// the answer body, and a transport error's URL (whose query may carry
	// a token).
	Redact func(string) string
}

// Request is one request to send.
type Request struct {
	Method string
	// URL is absolute: the connector joins its base URL and the path.
	URL   string
	Query url.Values
	// Body, when not nil, is sent as JSON.
	Body any
}

// Do sends r and returns the answer: a 2xx whose JSON body it decoded into
// out (not decoded when out is nil). Every other outcome is an error that
// wraps crm.ErrTransient, crm.ErrPermanent or a *crm.RetryAfterError and
// reads "<Name> <op>: …"; when an answer arrived, it comes back with the
// error, so that a connector can give a status its CRM's own meaning.
func (c *Caller) Do(ctx context.Context, op string, r Request, out any) (*resty.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req := c.Client.R().SetContext(ctx).SetHeader("Accept", "application/json")
	if r.Query != nil {
		req.SetQueryParamsFromValues(r.Query)
	}
	if r.Body != nil {
		raw, err := json.Marshal(r.Body)
		if err != nil {
			return nil, c.Wrap(op, crm.Permanent(fmt.Errorf("encode request: %w", err)))
		}
		req.SetHeader("Content-Type", "application/json").SetBody(raw)
	}
	if c.Auth != nil {
		c.Auth(req)
	}
	resp, err := req.Execute(r.Method, r.URL)
	if err != nil {
		// No answer: the CRM may never have seen the request.
		return nil, c.Wrap(op, crm.Transient(c.redactErr(err)))
	}
	if err := crm.ClassifyStatus(resp.StatusCode(), c.retryAfter(resp), c.redact(string(resp.Body()))); err != nil {
		return resp, c.Wrap(op, err)
	}
	if out == nil {
		return resp, nil
	}
	if err := json.Unmarshal(resp.Body(), out); err != nil {
		return resp, c.Wrap(op, crm.Transient(fmt.Errorf("malformed JSON answer (HTTP %d, %s): %w",
			resp.StatusCode(), resp.Header().Get("Content-Type"), err)))
	}
	return resp, nil
}

// Wrap names the connector and the operation in err, the way Do does, for
// the failures a connector finds in an answer itself.
func (c *Caller) Wrap(op string, err error) error {
	return fmt.Errorf("%s %s: %w", c.Name, op, err)
}

func (c *Caller) retryAfter(resp *resty.Response) time.Duration {
	if c.RetryAfter != nil {
		return c.RetryAfter(resp)
	}
	return crm.ParseRetryAfter(resp.Header().Get("Retry-After"))
}

func (c *Caller) redact(s string) string {
	if c.Redact == nil {
		return s
	}
	return c.Redact(s)
}

// redactErr redacts a transport error. A *url.Error prints the request URL,
// query included; it is rebuilt around its cause so that errors.Is still
// finds context.DeadlineExceeded and the like.
func (c *Caller) redactErr(err error) error {
	if c.Redact == nil {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, c.Redact(ue.URL), ue.Err)
	}
	if s := c.Redact(err.Error()); s != err.Error() {
		return errors.New(s)
	}
	return err
}

// CheckClient reports why client cannot be a connector's client: missing,
// or retrying on its own (a retry must be the caller's decision, made with
// the failure class and the CRM's Retry-After).
func CheckClient(client *resty.Client) error {
	switch {
	case client == nil:
		return errors.New("a resty client is required")
	case client.RetryCount > 0:
		return fmt.Errorf("the resty client retries (RetryCount %d): retries belong to the caller", client.RetryCount)
	}
	return nil
}

// CheckURL reports why u, the option called name, cannot be the root of a
// connector's requests or links: it must be an absolute http(s) URL.
// Empty is for the caller to judge (required, or defaulted).
func CheckURL(name, u string) error {
	if u == "" {
		return nil
	}
	if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("%s %q must be an absolute http(s) URL", name, u)
	}
	return nil
}
