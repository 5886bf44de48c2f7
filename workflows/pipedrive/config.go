package pipedrive

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm/httpcall"
	"github.com/calldex/calldex/workflows/crm/options"
)

// Defaults applied to the zero values of Config.
const (
	DefaultSource        = "pipedrive"
	DefaultTimeout       = 10 * time.Second
	DefaultPageSize      = 500
	DefaultSyncOverlap   = time.Minute
	DefaultRecentsMaxAge = 29 * 24 * time.Hour
	DefaultActivityType  = "call"
)

// SearchInterval spaces the searches of one company: Pipedrive allows 10
// search requests per 2 seconds per company, whatever the token
// (pipedrive.readme.io/docs/core-api-concepts-rate-limiting, "Search API").
const SearchInterval = 200 * time.Millisecond

// Waiter holds a call back until a rate limit lets it go
// (*accountlimit.Limiter).
type Waiter interface {
	Wait(ctx context.Context) error
}

// Spender charges a call's token cost to a daily budget, or refuses it
// with a transient error carrying Retry-After (*accountlimit.Budget).
type Spender interface {
	Spend(cost int) error
}

// maxPageSize is the largest limit of the list endpoints.
const maxPageSize = 500

var domainPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Config configures one Pipedrive connector instance (one company).
//
// Options (tenant YAML) use the lower-camel names given with each field.
type Config struct {
	// CompanyDomain is the company's subdomain (companyDomain): "acme" for
	// acme.pipedrive.com. Required: it builds the API and record URLs.
	CompanyDomain string
	// APIToken is a user's personal API token, sent as the api_token query
	// parameter (token). Required. Activities are created as that user.
	APIToken string
	// BaseURL is the API root (baseURL), default
	// https://{companyDomain}.pipedrive.com/api; requests add /v1 or /v2.
	// A root ending in /v1 is read without it.
	BaseURL string
	// AppURL is the web UI root (appURL), default
	// https://{companyDomain}.pipedrive.com.
	AppURL string
	// Source is the source id the contacts are published under (source),
	// default "pipedrive"; [a-z0-9_-].
	Source string
	// CRMLogo is put on every contact as crmLogo (crmLogo). Optional.
	CRMLogo string
	// Timeout bounds each HTTP request (timeout), default 10 s. A shorter
	// deadline on the caller's context wins.
	Timeout time.Duration
	// PageSize is the number of entries per ListChanges page (pageSize),
	// 1–500, default 500.
	PageSize int
	// SyncOverlap is how far behind "now" the recents cursor stays once
	// caught up (syncOverlap), default 1 min.
	SyncOverlap time.Duration
	// RecentsMaxAge is the oldest cursor /recents is trusted to continue
	// (recentsMaxAge), default 29 days (Pipedrive keeps about 30); an older
	// cursor restarts a full load.
	RecentsMaxAge time.Duration
	// PhonePartialMatch searches phone numbers as substrings
	// (phonePartialMatch); default false: exact_match=true.
	PhonePartialMatch bool
	// ActivityType is the activity type key_string of logged calls
	// (activityType), default "call".
	ActivityType string
	// DailyBudget is the company's daily API token budget (dailyBudget):
	// Pipedrive's 30,000 tokens × the plan's multiplier × seats, as its
	// rate limiting page computes it. Calls are counted at their token
	// cost per UTC day; past the budget they fail transient, not sent,
	// with Retry-After until 00:00 UTC. No answer header tells what is
	// left of the budget, so the count is this process's own: lower the
	// budget to leave room for other apps. 0: not counted.
	DailyBudget int
	// SearchLimiter spaces the company's searches (10 per 2 s), shared
	// by every instance of the company. nil: New makes the instance's
	// own. Not an option.
	SearchLimiter Waiter
	// Budget counts the company's daily token budget, shared by every
	// instance of the company. nil: New makes the instance's own when
	// DailyBudget is set. Not an option.
	Budget Spender
}

// FromOptions builds a Config from a tenant's connector options, e.g.
// {type: pipedrive, companyDomain: acme, token: "..."}. The result has its
// defaults applied and is validated.
func FromOptions(opts map[string]any) (Config, error) {
	var c Config
	o := options.New(opts)
	o.String("companyDomain", &c.CompanyDomain)
	o.String("token", &c.APIToken)
	o.String("baseURL", &c.BaseURL)
	o.String("appURL", &c.AppURL)
	o.String("source", &c.Source)
	o.String("crmLogo", &c.CRMLogo)
	o.Duration("timeout", &c.Timeout)
	o.Int("pageSize", &c.PageSize)
	o.Duration("syncOverlap", &c.SyncOverlap)
	o.Duration("recentsMaxAge", &c.RecentsMaxAge)
	o.Bool("phonePartialMatch", &c.PhonePartialMatch)
	o.String("activityType", &c.ActivityType)
	o.Int("dailyBudget", &c.DailyBudget)
	c.setDefaults()
	if err := errors.Join(o.Err(), c.Validate()); err != nil {
		return c, fmt.Errorf("pipedrive options: %w", err)
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.BaseURL == "" && c.CompanyDomain != "" {
		c.BaseURL = "https://" + c.CompanyDomain + ".pipedrive.com/api"
	}
	if c.AppURL == "" && c.CompanyDomain != "" {
		c.AppURL = "https://" + c.CompanyDomain + ".pipedrive.com"
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
	if c.RecentsMaxAge == 0 {
		c.RecentsMaxAge = DefaultRecentsMaxAge
	}
	if c.ActivityType == "" {
		c.ActivityType = DefaultActivityType
	}
}

// Validate reports every problem at once. Zero values that have a default
// are valid.
func (c Config) Validate() error {
	var errs []error
	if c.CompanyDomain == "" {
		errs = append(errs, errors.New("companyDomain is required (acme for acme.pipedrive.com)"))
	} else if !domainPattern.MatchString(c.CompanyDomain) {
		errs = append(errs, fmt.Errorf("companyDomain %q must be the subdomain alone (acme for acme.pipedrive.com)", c.CompanyDomain))
	}
	if c.APIToken == "" {
		errs = append(errs, errors.New("token is required (a personal API token)"))
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
	if c.SyncOverlap < 0 {
		errs = append(errs, fmt.Errorf("syncOverlap %s must not be negative", c.SyncOverlap))
	}
	if c.RecentsMaxAge < 0 || c.RecentsMaxAge > 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("recentsMaxAge %s must be at most 720h (recents keep 30 days)", c.RecentsMaxAge))
	}
	if c.DailyBudget < 0 {
		errs = append(errs, fmt.Errorf("dailyBudget %d must not be negative", c.DailyBudget))
	}
	return errors.Join(errs...)
}
