package upstream

import (
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
	DefaultHeader     = "X-Execution-Token"
	DefaultSource     = "upstream"
	DefaultTimeout    = 2 * time.Second
	DefaultMaxLookups = 1
)

const maxLookups = 5

var headerName = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")

// Config configures one upstream lookup service.
//
// Options (tenant YAML) use the lower-camel names given with each field.
type Config struct {
	// URL is the service's root URL (url); the lookup is POST <url>/Lookup,
	// or with Legacy GET <url>?PhoneNumber=. Required.
	URL string
	// Header is the name of the credential header (header), default
	// X-Execution-Token, and Token its value (token, required).
	Header string
	Token  string
	// Legacy selects the first version of the API (legacy).
	Legacy bool
	// Source is the source id of the contacts (source), default "upstream".
	Source string
	// CRMName and CRMLogo fill entries that carry none (crmName, crmLogo).
	CRMName string
	CRMLogo string
	// Timeout bounds each request (timeout), default 2 s: the lookup is on
	// the ringing path. A shorter deadline on the caller's context wins.
	Timeout time.Duration
	// MaxLookups is how many of the numbers' formats are asked in turn
	// until one answers entries (maxLookups), 1–5, default 1: the first
	// number, E.164, is what a peoplefone service expects.
	MaxLookups int
}

// FromOptions builds a Config from a tenant's connector options, e.g.
// {type: upstream, url: "https://crm.example.com/services", header:
// X-Execution-Token, token: "..."}. The result has its defaults applied and
// is validated.
func FromOptions(opts map[string]any) (Config, error) {
	var c Config
	o := options.New(opts)
	o.String("url", &c.URL)
	o.String("header", &c.Header)
	o.String("token", &c.Token)
	o.Bool("legacy", &c.Legacy)
	o.String("source", &c.Source)
	o.String("crmName", &c.CRMName)
	o.String("crmLogo", &c.CRMLogo)
	o.Duration("timeout", &c.Timeout)
	o.Int("maxLookups", &c.MaxLookups)
	c.setDefaults()
	if err := errors.Join(o.Err(), c.Validate()); err != nil {
		return c, fmt.Errorf("upstream options: %w", err)
	}
	return c, nil
}

func (c *Config) setDefaults() {
	if c.Header == "" {
		c.Header = DefaultHeader
	}
	if c.Source == "" {
		c.Source = DefaultSource
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxLookups == 0 {
		c.MaxLookups = DefaultMaxLookups
	}
}

// Validate reports every problem at once. Zero values that have a default
// are valid.
func (c Config) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url is required (the lookup service's root URL)"))
	} else if err := httpcall.CheckURL("url", c.URL); err != nil {
		errs = append(errs, err)
	}
	if c.Header != "" && !headerName.MatchString(c.Header) {
		errs = append(errs, fmt.Errorf("header %q is not a valid header name", c.Header))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("token is required (the value of the credential header)"))
	}
	if c.Source != "" {
		if err := events.ValidID(c.Source); err != nil {
			errs = append(errs, fmt.Errorf("source: %w", err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s must be positive", c.Timeout))
	}
	if c.MaxLookups < 0 || c.MaxLookups > maxLookups {
		errs = append(errs, fmt.Errorf("maxLookups %d must be between 1 and %d", c.MaxLookups, maxLookups))
	}
	return errors.Join(errs...)
}
