package crmsync

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/workflows/crm/options"
)

// Defaults of Config and of the per-connector options.
const (
	DefaultLeasePeriod     = 15 * time.Second
	DefaultInterval        = 30 * time.Second
	DefaultRateLimit       = 4.0 // requests per second
	DefaultMinBackoff      = time.Second
	DefaultMaxBackoff      = 5 * time.Minute
	DefaultPermanentRetry  = 10 * time.Minute
	DefaultPageTimeout     = 2 * time.Minute
	DefaultMetricsInterval = 5 * time.Second
	DefaultShards          = 64
	DefaultWorkers         = 32
	// DefaultAccountRateLimit caps the requests per second of the sources
	// that share a CRM account (option account).
	DefaultAccountRateLimit = 10.0
)

// Config configures a Syncer. Zero values take the documented defaults in
// Validate.
type Config struct {
	// Topology names the CONTACTS stream and the sync_cursors bucket.
	Topology events.Topology
	// Owner names this replica in the leases it holds; it must differ
	// between replicas. Default: the host name and a random suffix.
	Owner string
	// LeasePeriod bounds how long a source stays without a syncer when the
	// replica holding its shard dies: another replica takes over within
	// it. Every LeasePeriod/5 a replica renews its heartbeat and its shard
	// leases and claims free or expired shards up to its share; a lease
	// or heartbeat not renewed for 4/5 of the period counts as expired. A
	// replica that stops cleanly releases its shards at once. Default 15s.
	LeasePeriod time.Duration
	// Shards is how many shards the sources are spread over (by a hash
	// of tenant and source); leases are per shard, and each of N live
	// replicas holds up to ceil(Shards/N). Every replica of a deployment
	// must use the same value. Default 64.
	Shards int
	// Workers bounds the polls running at once on this replica: a slow
	// source holds one worker, never the others' turns. Default 32.
	Workers int
	// DefaultAccountRateLimit caps the requests per second of the sources
	// sharing a CRM account whose connectors set no accountRateLimit.
	// Default 10.
	DefaultAccountRateLimit float64
	// DefaultInterval is the poll interval of a source whose connector
	// sets no syncInterval. Default 30s.
	DefaultInterval time.Duration
	// DefaultRateLimit caps the ListChanges calls per second of a source
	// whose connector sets no rateLimit. Default 4.
	DefaultRateLimit float64
	// MinBackoff and MaxBackoff bound the exponential backoff after
	// transient failures (doubling, ±20% jitter). Default 1s and 5m.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// PermanentRetry is the wait after a permanent failure (a 401, a
	// refused cursor, a connector that cannot be built): such a failure
	// needs a person, but the loop never gives up. Default 10m.
	PermanentRetry time.Duration
	// PageTimeout bounds one page: the CRM call, publishing its events and
	// storing the cursor. Default 2m.
	PageTimeout time.Duration
	// MetricsInterval is how often the lag gauges are refreshed.
	// Default 5s.
	MetricsInterval time.Duration
}

var ownerPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Owner == "" {
		c.Owner = defaultOwner()
	}
	def(&c.LeasePeriod, DefaultLeasePeriod)
	def(&c.DefaultInterval, DefaultInterval)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.PermanentRetry, DefaultPermanentRetry)
	def(&c.PageTimeout, DefaultPageTimeout)
	def(&c.MetricsInterval, DefaultMetricsInterval)
	if c.DefaultRateLimit == 0 {
		c.DefaultRateLimit = DefaultRateLimit
	}
	if c.DefaultAccountRateLimit == 0 {
		c.DefaultAccountRateLimit = DefaultAccountRateLimit
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}

	var errs []error
	if !ownerPattern.MatchString(c.Owner) {
		errs = append(errs, fmt.Errorf("crmsync: owner %q must match %s", c.Owner, ownerPattern))
	}
	if err := events.ValidPrefix(c.Topology.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("crmsync: topology: %w", err))
	}
	if c.LeasePeriod < 50*time.Millisecond {
		errs = append(errs, fmt.Errorf("crmsync: leasePeriod %s must be at least 50ms", c.LeasePeriod))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"defaultInterval", c.DefaultInterval}, {"minBackoff", c.MinBackoff}, {"permanentRetry", c.PermanentRetry}, {"pageTimeout", c.PageTimeout}, {"metricsInterval", c.MetricsInterval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("crmsync: %s %s must be positive", d.name, d.v))
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("crmsync: maxBackoff %s must not be below minBackoff %s", c.MaxBackoff, c.MinBackoff))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"defaultRateLimit", c.DefaultRateLimit}, {"defaultAccountRateLimit", c.DefaultAccountRateLimit}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, fmt.Errorf("crmsync: %s %g must be positive", r.name, r.v))
		}
	}
	if c.Shards < 1 || c.Shards > 4096 {
		errs = append(errs, fmt.Errorf("crmsync: shards %d must be between 1 and 4096", c.Shards))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("crmsync: workers %d must be positive", c.Workers))
	}
	return errors.Join(errs...)
}

func defaultOwner() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return r
		}
		return '-'
	}, host)
	if host == "" {
		host = "calldex"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%.100s-%s", host, hex.EncodeToString(b))
}

// Option keys this package and the CRM webhooks read from a connector's
// options, beside the connector's own.
const (
	OptSync            = "sync"
	OptSyncInterval    = "syncInterval"
	OptRateLimit       = "rateLimit"
	OptWebhookSecret   = "webhookSecret"
	OptWebhookUser     = "webhookUser"
	OptWebhookPassword = "webhookPassword"
	OptWebhookURL      = "webhookURL"
	OptAccount         = "account"
	OptAccountRate     = "accountRateLimit"
)

// OptionKeys lists every option of SourceOptions. A connector constructor
// refuses options it does not know, so these are removed before it sees
// them (ConnectorOptions).
var OptionKeys = []string{OptSync, OptSyncInterval, OptRateLimit, OptWebhookSecret, OptWebhookUser, OptWebhookPassword, OptWebhookURL, OptAccount, OptAccountRate}

// SourceOptions are the sync and webhook settings of one connector, read
// from its options in the tenant YAML next to the connector's own.
type SourceOptions struct {
	// Sync turns the continuous sync of a connector that can list changes
	// on or off (sync). Default true.
	Sync bool
	// Interval is the time between two polls once caught up
	// (syncInterval); 0 takes Config.DefaultInterval. A webhook or
	// Syncer.SyncNow starts a poll earlier.
	Interval time.Duration
	// RateLimit caps the CRM requests of the sync in requests per second
	// (rateLimit); 0 takes Config.DefaultRateLimit.
	RateLimit float64
	// WebhookSecret is the HubSpot app's client secret, which signs its
	// webhooks (X-HubSpot-Signature-v3) (webhookSecret).
	WebhookSecret string
	// WebhookUser and WebhookPassword are the HTTP basic auth credentials
	// given to Pipedrive when creating the webhook (http_auth_user,
	// http_auth_password) (webhookUser, webhookPassword).
	WebhookUser     string
	WebhookPassword string
	// Account names the CRM account the source polls (account): sources
	// naming the same account share one rate limiter, as the CRM counts
	// their requests together (a HubSpot portal, a Pipedrive company).
	Account string
	// AccountRateLimit caps the requests per second of the account
	// (accountRateLimit); 0 takes Config.DefaultAccountRateLimit. Sources
	// of one account that set different values get the smallest.
	AccountRateLimit float64
	// WebhookURL is the webhook URL exactly as registered with the CRM
	// (webhookURL). HubSpot signs it; set it when a proxy changes the
	// scheme, host or path on the way. Empty: the URL as received.
	WebhookURL string
}

// ParseSourceOptions reads the SourceOptions out of a connector's options,
// ignoring every other key, and reports every bad value at once.
func ParseSourceOptions(opts map[string]any) (SourceOptions, error) {
	so := SourceOptions{Sync: true}
	own := map[string]any{}
	for _, k := range OptionKeys {
		if v, ok := opts[k]; ok {
			own[k] = v
		}
	}
	r := options.New(own)
	r.Bool(OptSync, &so.Sync)
	r.Duration(OptSyncInterval, &so.Interval)
	r.String(OptWebhookSecret, &so.WebhookSecret)
	r.String(OptWebhookUser, &so.WebhookUser)
	r.String(OptWebhookPassword, &so.WebhookPassword)
	r.String(OptWebhookURL, &so.WebhookURL)
	r.String(OptAccount, &so.Account)
	errs := []error{readRate(own, OptRateLimit, &so.RateLimit), readRate(own, OptAccountRate, &so.AccountRateLimit)}
	// The rates were read by hand (the Reader has no float): mark them known.
	delete(own, OptRateLimit)
	delete(own, OptAccountRate)
	errs = append(errs, r.Err())
	if so.Interval < 0 {
		errs = append(errs, fmt.Errorf("option %s: %s must not be negative", OptSyncInterval, so.Interval))
	}
	if (so.WebhookUser == "") != (so.WebhookPassword == "") {
		errs = append(errs, fmt.Errorf("options %s and %s go together", OptWebhookUser, OptWebhookPassword))
	}
	if so.WebhookURL != "" {
		u, err := url.Parse(so.WebhookURL)
		if err != nil || !u.IsAbs() || u.Host == "" {
			errs = append(errs, fmt.Errorf("option %s: %q is not an absolute URL", OptWebhookURL, so.WebhookURL))
		}
	}
	return so, errors.Join(errs...)
}

func readRate(own map[string]any, key string, dst *float64) error {
	v, ok := own[key]
	if !ok || v == nil {
		return nil
	}
	var f float64
	switch n := v.(type) {
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint64:
		f = float64(n)
	case float64:
		f = n
	case string:
		p, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return fmt.Errorf("option %s: %v (%T) is not a number of requests per second", key, v, v)
		}
		f = p
	default:
		return fmt.Errorf("option %s: %v (%T) is not a number of requests per second", key, v, v)
	}
	if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("option %s: %v must be a positive number of requests per second", key, v)
	}
	*dst = f
	return nil
}

// ConnectorOptions returns a copy of a connector's options without the
// OptionKeys, which is what the connector's own constructor accepts.
func ConnectorOptions(opts map[string]any) map[string]any {
	out := make(map[string]any, len(opts))
	for k, v := range opts {
		out[k] = v
	}
	for _, k := range OptionKeys {
		delete(out, k)
	}
	return out
}
