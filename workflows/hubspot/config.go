package hubspot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm/httpcall"
	"github.com/calldex/calldex/workflows/crm/options"
)

// Defaults applied to the zero values of Config.
const (
	DefaultBaseURL               = "https://api.hubapi.com"
	DefaultAppURL                = "https://app.hubspot.com"
	DefaultSource                = "hubspot"
	DefaultTimeout               = 10 * time.Second
	DefaultPageSize              = 100
	DefaultSyncOverlap           = time.Minute
	DefaultArchivedSweepInterval = time.Hour
	DefaultTicketPipeline        = "0"
	DefaultDispositionField      = "outcome"
	DefaultTicketStage           = "1"
	// DefaultSearchInterval spaces the portal's search requests: HubSpot
	// allows about 4 a second per account, shared by every app
	// (developers.hubspot.com/docs/api/crm/search, "Limitations").
	DefaultSearchInterval = 250 * time.Millisecond
)

// Waiter holds a call back until a rate limit lets it go
// (*accountlimit.Limiter).
type Waiter interface {
	Wait(ctx context.Context) error
}

// maxPageSize is the search API's largest page.
const maxPageSize = 200

// Config configures one HubSpot connector instance (one portal).
//
// Options (tenant YAML) use the lower-camel names given with each field.
type Config struct {
	// Token is the private app access token (token). Required. Scopes:
	// crm.objects.contacts.read/write, and for calls and tickets the
	// matching crm.objects.*/tickets scopes.
	Token string
	// PortalID is the HubSpot account id (portalId), used in record URLs.
	// Required.
	PortalID int64
	// BaseURL is the API root (baseURL), default https://api.hubapi.com.
	BaseURL string
	// AppURL is the web UI root (appURL), default https://app.hubspot.com;
	// EU-hosted portals use https://app-eu1.hubspot.com.
	AppURL string
	// Source is the source id the contacts are published under (source),
	// default "hubspot"; [a-z0-9_-].
	Source string
	// CRMLogo is put on every contact as crmLogo (crmLogo). Optional.
	CRMLogo string
	// Timeout bounds each HTTP request (timeout), default 10 s. A shorter
	// deadline on the caller's context wins.
	Timeout time.Duration
	// PageSize is the number of contacts per ListChanges page (pageSize),
	// 1–200, default 100.
	PageSize int
	// SyncOverlap is how far behind "now" the sync cursor stays once caught
	// up (syncOverlap), default 1 min: HubSpot's search index lags writes.
	SyncOverlap time.Duration
	// ArchivedSweepInterval is how often the archived contacts are listed to
	// report deletes (archivedSweepInterval), default 1 h, at least 1 min.
	ArchivedSweepInterval time.Duration
	// CallKeyProperty names a custom single-line text property of calls
	// that stores the idempotency key (callKeyProperty). Empty: the key is
	// appended to hs_call_title.
	CallKeyProperty string
	// TicketKeyProperty is CallKeyProperty for tickets (ticketKeyProperty).
	// Empty: the key is appended to the subject.
	TicketKeyProperty string
	// DispositionField names the call disposition (App Connect's
	// dispositions, keyed by field) written to the call's
	// hs_call_disposition (dispositionField), default "outcome". Its value
	// is one of HubSpot's default outcome labels (Busy, Connected, Left
	// live message, Left voicemail, No answer, Wrong number) or an
	// outcome's GUID (custom outcomes have their own).
	DispositionField string
	// TicketPipeline and TicketStage place new tickets (ticketPipeline,
	// ticketStage), default "0" and "1": the default support pipeline's
	// first stage.
	TicketPipeline string
	TicketStage    string
	// SearchInterval is the least time between two search requests of the
	// portal (searchInterval), default 250ms. It sizes SearchLimiter when
	// the connectors factory makes it.
	SearchInterval time.Duration
	// SearchLimiter spaces every search request (contacts by phone and
	// name, the sync's changes, the calls and tickets found by key). The
	// connectors factory gives every instance of one portal the same
	// limiter, so the live lookups, the worker and the sync share the
	// portal's search limit. nil: not limited. Not an option.
	SearchLimiter Waiter
}

// FromOptions builds a Config from a tenant's connector options, e.g.
// {type: hubspot, token: "...", portalId: 123456, baseURL: optional}. The
// result has its defaults applied and is validated.
func FromOptions(opts map[string]any) (Config, error) {
	var c Config
	o := options.New(opts)
	o.String("token", &c.Token)
	o.Int64("portalId", &c.PortalID)
	o.String("baseURL", &c.BaseURL)
	o.String("appURL", &c.AppURL)
	o.String("source", &c.Source)
	o.String("crmLogo", &c.CRMLogo)
	o.Duration("timeout", &c.Timeout)
	o.Int("pageSize", &c.PageSize)
	o.Duration("syncOverlap", &c.SyncOverlap)
	o.Duration("archivedSweepInterval", &c.ArchivedSweepInterval)
	o.String("callKeyProperty", &c.CallKeyProperty)
	o.String("ticketKeyProperty", &c.TicketKeyProperty)
	o.String("dispositionField", &c.DispositionField)
	o.String("ticketPipeline", &c.TicketPipeline)
	o.String("ticketStage", &c.TicketStage)
	o.Duration("searchInterval", &c.SearchInterval)
	c.setDefaults()
	if err := errors.Join(o.Err(), c.Validate()); err != nil {
		return c, fmt.Errorf("hubspot options: %w", err)
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if c.AppURL == "" {
		c.AppURL = DefaultAppURL
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.SyncOverlap == 0 {
		c.SyncOverlap = DefaultSyncOverlap
	}
	if c.ArchivedSweepInterval == 0 {
		c.ArchivedSweepInterval = DefaultArchivedSweepInterval
	}
	if c.DispositionField == "" {
		c.DispositionField = DefaultDispositionField
	}
	if c.TicketPipeline == "" {
		c.TicketPipeline = DefaultTicketPipeline
	}
	if c.TicketStage == "" {
		c.TicketStage = DefaultTicketStage
	}
	if c.SearchInterval == 0 {
		c.SearchInterval = DefaultSearchInterval
	}
}

// Validate reports every problem at once. Zero values that have a default
// are valid.
func (c Config) Validate() error {
	var errs []error
	if c.Token == "" {
		errs = append(errs, errors.New("token is required (a private app access token)"))
	}
	if c.PortalID <= 0 {
		errs = append(errs, errors.New("portalId is required (the HubSpot account id)"))
	}
	errs = append(errs, httpcall.CheckURL("baseURL", c.BaseURL), httpcall.CheckURL("appURL", c.AppURL))
	if c.Source != "" {
		if err := events.ValidID(c.Source); err != nil {
			errs = append(errs, fmt.Errorf("source: %w", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s must be positive", c.Timeout))
	}
	if c.PageSize < 0 || c.PageSize > maxPageSize {
		errs = append(errs, fmt.Errorf("pageSize %d must be between 1 and %d", c.PageSize, maxPageSize))
	}
	if c.SearchInterval < 0 {
		errs = append(errs, fmt.Errorf("searchInterval %s must not be negative", c.SearchInterval))
	}
	if c.SyncOverlap < 0 {
		errs = append(errs, fmt.Errorf("syncOverlap %s must not be negative", c.SyncOverlap))
	}
	if c.ArchivedSweepInterval != 0 && c.ArchivedSweepInterval < time.Minute {
		errs = append(errs, fmt.Errorf("archivedSweepInterval %s must be at least 1m", c.ArchivedSweepInterval))
	}
	return errors.Join(errs...)
}
