package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm"
	"github.com/calldex/calldex/workflows/crm/options"
)

// Type is the connector type name in the tenant config.
const Type = "webhook"

// DefaultTimeout bounds one webhook request.
const DefaultTimeout = 10 * time.Second

// Config are the options of a webhook connector. Option keys (tenant YAML)
// are the lower-case field names: url, secret, timeout, headers.
type Config struct {
	// URL receives the POSTs (http or https).
	URL string
	// Secret signs every request (X-Calldex-Signature); at least 16 bytes.
	Secret string
	// Timeout bounds one request; default DefaultTimeout.
	Timeout time.Duration
	// Headers are added to every request (an API key of the receiver, …).
	Headers map[string]string
}

// ParseOptions reads a connector's options, e.g. {type: webhook, url:
// "https://hooks.example.com/calldex", secret: "${HOOK_SECRET}", timeout:
// 5s, headers: {X-Api-Key: "..."}}, reporting every problem at once.
func ParseOptions(opts map[string]any) (Config, error) {
	var c Config
	scalars := make(map[string]any, len(opts))
	for k, v := range opts {
		if k != "headers" {
			scalars[k] = v
		}
	}
	r := options.New(scalars)
	r.String("url", &c.URL)
	r.String("secret", &c.Secret)
	r.Duration("timeout", &c.Timeout)
	headers, err := stringMap(opts["headers"])
	if err != nil {
		err = fmt.Errorf("option headers: %w", err)
	}
	c.Headers = headers
	if err := errors.Join(r.Err(), err); err != nil {
		return c, fmt.Errorf("webhook options: %w", err)
	}
	return c, nil
}

// stringMap reads a map of text (headers); YAML may give a number where
// text was meant.
func stringMap(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a map of text", v)
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		switch s := x.(type) {
		case string:
			out[k] = s
		case int, int64, float64:
			out[k] = fmt.Sprint(s)
		default:
			return nil, fmt.Errorf("%s: %T is not text", k, x)
		}
	}
	return out, nil
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("webhook: url %q must be an absolute http(s) URL", c.URL))
	}
	if len(c.Secret) < 16 {
		errs = append(errs, errors.New("webhook: secret must have at least 16 characters"))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("webhook: timeout must not be negative"))
	}
	return errors.Join(errs...)
}

// Webhook posts workflows to a URL. It implements crm.CallLogger,
// crm.TicketCreator, crm.MessageLogger and crm.DispositionLogger.
type Webhook struct {
	cfg    Config
	client *resty.Client
	now    func() time.Time
}

var (
	_ crm.CallLogger        = (*Webhook)(nil)
	_ crm.TicketCreator     = (*Webhook)(nil)
	_ crm.MessageLogger     = (*Webhook)(nil)
	_ crm.DispositionLogger = (*Webhook)(nil)
)

// New builds a webhook connector on a shared resty client (which must not
// retry: retries belong to the worker).
func New(cfg Config, client *resty.Client) (*Webhook, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("webhook: a resty client is required")
	}
	return &Webhook{cfg: cfg, client: client, now: crm.Now}, nil
}

// Request is the JSON body of a webhook request.
type Request struct {
	Key      string           `json:"key"`
	Tenant   string           `json:"tenant"`
	Workflow string           `json:"workflow"`
	Action   string           `json:"action"`
	Inputs   events.CallInput `json:"inputs"`
}

// LogCall posts action logCall.
func (w *Webhook) LogCall(ctx context.Context, c crm.Call) (crm.Result, error) {
	return w.post(ctx, "logCall", c)
}

// CreateTicket posts action createTicket.
func (w *Webhook) CreateTicket(ctx context.Context, c crm.Call) (crm.Result, error) {
	return w.post(ctx, "createTicket", c)
}

// LogMessage posts action logMessage.
func (w *Webhook) LogMessage(ctx context.Context, c crm.Call) (crm.Result, error) {
	return w.post(ctx, "logMessage", c)
}

// LogDisposition posts action logDisposition: inputs.dispositions for the
// logged call inputs.logId. Its result is that call, with the URL the
// receiver answers.
func (w *Webhook) LogDisposition(ctx context.Context, c crm.Call) (crm.Result, error) {
	logID, err := crm.LogIDOf(c)
	if err != nil {
		return crm.Result{}, fmt.Errorf("webhook logDisposition: %w", err)
	}
	res, err := w.post(ctx, "logDisposition", c)
	if err != nil {
		return crm.Result{}, err
	}
	res.ID = logID
	return res, nil
}

func (w *Webhook) post(ctx context.Context, action string, c crm.Call) (crm.Result, error) {
	body, err := json.Marshal(Request{Key: c.Key, Tenant: c.Tenant, Workflow: c.Workflow, Action: action, Inputs: c.Input})
	if err != nil {
		return crm.Result{}, crm.Permanent(fmt.Errorf("webhook %s: marshal: %w", action, err))
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req := w.client.R().SetContext(ctx).
		SetHeaders(w.cfg.Headers).
		SetHeader("Content-Type", "application/json").
		SetHeader("Accept", "application/json").
		SetHeader(HeaderTimestamp, ts).
		SetHeader(HeaderSignature, Sign(w.cfg.Secret, ts, body)).
		SetHeader(HeaderIdempotency, c.Key).
		SetBody(body)
	resp, err := req.Post(w.cfg.URL)
	if err != nil {
		// No answer (refused, reset, timeout): the CRM may or may not have
		// acted; retrying with the same Idempotency-Key is the safe choice.
		return crm.Result{}, crm.Transient(fmt.Errorf("webhook %s: %w", action, err))
	}
	if err := crm.ClassifyStatus(resp.StatusCode(), crm.ParseRetryAfter(resp.Header().Get("Retry-After")), string(resp.Body())); err != nil {
		return crm.Result{}, fmt.Errorf("webhook %s: %w", action, err)
	}
	return parseResult(resp.Body()), nil
}

// parseResult reads {id,url}. The effect happened once we have a 2xx, so a
// body that is empty or not that shape is a result without id, not an error
// (an error would retry, or dead-letter, a workflow that is done).
func parseResult(b []byte) crm.Result {
	var r struct {
		ID  json.RawMessage `json:"id"`
		URL string          `json:"url"`
	}
	if len(strings.TrimSpace(string(b))) == 0 || json.Unmarshal(b, &r) != nil {
		return crm.Result{}
	}
	id := string(r.ID)
	var s string
	if json.Unmarshal(r.ID, &s) == nil {
		id = s
	} else if id == "null" {
		id = ""
	}
	return crm.Result{ID: id, URL: r.URL}
}
