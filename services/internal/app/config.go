package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/calldex/calldex/events"
	"github.com/calldex/calldex/services/internal/clientaddr"
)

// Defaults of the embedded default.
const (
	DefaultHTTPAddr   = "127.0.0.1:8080"
	DefaultNATSAddr   = "127.0.0.1:4250"
	DefaultDataDir    = "./data"
	DemoTenant        = "demo"
	DemoToken         = "demo-token"
	DemoAdminToken    = "demo-admin-token"
	DemoExecuteHeader = "X-Execution-Token"
	// DemoAppConnectSecret signs the demo's App Connect sessions; a real
	// deployment sets CALLDEX_APPCONNECT_SECRET.
	DemoAppConnectSecret = "calldex-demo-app-connect-secret-not-for-production"
)

// Config is every setting of a Calldex process. The environment is read in
// one place (FromEnv, through the table envVars); tests and load tools set
// the fields directly.
type Config struct {
	// Roles are the parts this process runs; empty runs all of them.
	Roles Roles
	// TenantsFile is the tenants' configuration; empty runs the demo
	// (the built-in DemoConfig, seeded with DemoContacts, App Connect on),
	// and so does a file equal to DemoConfig.
	TenantsFile string
	// HTTPAddr is where the HTTP API (every role: /healthz, /readyz,
	// /metrics) listens.
	HTTPAddr string
	// DataDir holds the embedded JetStream store and the demo CRM.
	DataDir string
	// EmbeddedNATSAddr is where the embedded NATS listens (loopback, so that
	// calldexctl can reach it); port 0 picks one.
	EmbeddedNATSAddr string
	// NATSURL connects to an external NATS (comma-separated seed URLs of a
	// cluster); empty embeds one.
	NATSURL string
	// RedisURL selects the Redis index; empty uses the in-process index.
	RedisURL string
	// RedisPrefix prefixes every Redis key.
	RedisPrefix string
	// StreamPrefix prefixes streams, subjects and buckets (tests,
	// side-by-side installs).
	StreamPrefix string
	// StreamReplicas is the replica count of every stream and bucket.
	StreamReplicas int
	// AppConnectSecret signs App Connect session tokens (at least 32 bytes,
	// the same on every replica); empty disables /appconnect.
	AppConnectSecret string
	// DemoContacts is imported for the demo tenant on a first start;
	// empty imports the built-in DemoContacts.
	DemoContacts string
	// LogLevel is the lowest level logged.
	LogLevel slog.Level
	// ShutdownTimeout bounds a graceful stop, all parts together.
	ShutdownTimeout time.Duration
	// PprofAddr serves net/http/pprof (loopback only); empty serves none.
	PprofAddr string
	// WorkerConcurrency is how many workflows a worker runs at once; 0
	// keeps the worker's default.
	WorkerConcurrency int
	// ProjectorBulk is how many contacts of a tenant with an empty Redis
	// index the projector loads in bulk at most (projector.Config.Bulk);
	// 0 writes every event through the write script.
	ProjectorBulk int
	// CredentialKey keys the lookup hash of stored tenant tokens: the same
	// on every replica and for calldexctl.
	CredentialKey string
	// TrustedProxies are the load balancers in front of the ingress: only
	// from them is ForwardedHeader believed, and tenants' allowedCIDRs
	// apply to the client they report (clientaddr).
	TrustedProxies []netip.Prefix
	// ForwardedHeader is where the trusted proxies report the client:
	// X-Forwarded-For or Forwarded.
	ForwardedHeader string
	// AuthMaxFailures is how many failed credentials a client address may
	// send in one AuthWindow before it is answered 429 (per replica).
	AuthMaxFailures int
	// AuthWindow is the window failed credentials are counted in.
	AuthWindow time.Duration
	// ConsoleSessionTTL is how long a login to the web console lasts.
	ConsoleSessionTTL time.Duration
	// Retention is the maximum age of CALLS, WORKFLOWS and workflow
	// results, applied to the streams at every start.
	Retention events.Retention
	// Risk counts callers across tenants (the projector role) and adds
	// their risk to lookup answers (the ingress role).
	Risk bool
}

// envVar is one environment variable of Config: its default (as written
// in the environment) and how it sets the field.
type envVar struct {
	name, def, doc string
	set            func(c *Config, v string) error
}

// envVars is the one list of Calldex's environment variables; the README's
// table is checked against it.
var envVars = []envVar{
	{"CALLDEX_ROLES", "", "comma list of ingress, worker, sync, projector; empty or `all` runs every role", func(c *Config, v string) (err error) {
		c.Roles, err = ParseRoles(v)
		return err
	}},
	{"CALLDEX_CONFIG", "", "tenants file; empty runs the demo tenant", func(c *Config, v string) error { c.TenantsFile = v; return nil }},
	{"CALLDEX_HTTP_ADDR", DefaultHTTPAddr, "HTTP listen address of every role", func(c *Config, v string) error { c.HTTPAddr = v; return nil }},
	{"CALLDEX_DATA_DIR", DefaultDataDir, "embedded JetStream store and demo CRM", func(c *Config, v string) error { c.DataDir = v; return nil }},
	{"CALLDEX_NATS_ADDR", DefaultNATSAddr, "listen address of the embedded NATS", func(c *Config, v string) error { c.EmbeddedNATSAddr = v; return nil }},
	{"NATS_URL", "", "external NATS, comma-separated seed URLs; empty embeds NATS", func(c *Config, v string) error { c.NATSURL = v; return nil }},
	{"REDIS_URL", "", "Redis index; empty uses the in-process index", func(c *Config, v string) error { c.RedisURL = v; return nil }},
	{"CALLDEX_REDIS_PREFIX", "cdx", "prefix of every Redis key", func(c *Config, v string) error { c.RedisPrefix = v; return nil }},
	{"CALLDEX_STREAM_PREFIX", "", "prefix of streams, subjects and buckets", func(c *Config, v string) error { c.StreamPrefix = v; return nil }},
	{"CALLDEX_STREAM_REPLICAS", "1", "replicas of every stream and KV bucket (3 on a NATS cluster)", func(c *Config, v string) (err error) {
		c.StreamReplicas, err = strconv.Atoi(v)
		return err
	}},
	{"CALLDEX_APPCONNECT_SECRET", "", "signs App Connect sessions (≥ 32 bytes); empty disables /appconnect outside the demo", func(c *Config, v string) error { c.AppConnectSecret = v; return nil }},
	{"CALLDEX_DEMO_CONTACTS", "", "contacts file imported for the demo tenant on a first start; empty imports the built-in ones", func(c *Config, v string) error { c.DemoContacts = v; return nil }},
	{"CALLDEX_LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }},
	{"CALLDEX_SHUTDOWN_TIMEOUT", "25s", "bound of a graceful stop", func(c *Config, v string) (err error) {
		c.ShutdownTimeout, err = time.ParseDuration(v)
		return err
	}},
	{"CALLDEX_PPROF_ADDR", "", "loopback address serving net/http/pprof; empty serves none", func(c *Config, v string) error { c.PprofAddr = v; return nil }},
	{"CALLDEX_CREDENTIAL_KEY", "", "keys the lookup hash of stored tenant tokens; the same on every replica and for calldexctl", func(c *Config, v string) error { c.CredentialKey = v; return nil }},
	{"CALLDEX_TRUSTED_PROXIES", "", "comma list of the load balancers' CIDRs or addresses; only their forwarding header is believed", func(c *Config, v string) (err error) {
		c.TrustedProxies, err = clientaddr.ParsePrefixes(v)
		return err
	}},
	{"CALLDEX_FORWARDED_HEADER", clientaddr.HeaderXForwardedFor, "where the trusted proxies report the client: X-Forwarded-For or Forwarded", func(c *Config, v string) error { c.ForwardedHeader = v; return nil }},
	{"CALLDEX_WORKER_CONCURRENCY", "0", "workflows run at once per worker; 0 keeps the default (128)", func(c *Config, v string) (err error) {
		c.WorkerConcurrency, err = strconv.Atoi(v)
		return err
	}},
	{"CALLDEX_PROJECTOR_BULK", "250000", "contacts of a tenant with an empty Redis index the projector loads in bulk at most; 0: none", func(c *Config, v string) (err error) {
		c.ProjectorBulk, err = strconv.Atoi(v)
		return err
	}},
	{"CALLDEX_AUTH_MAX_FAILURES", "10", "failed credentials per client address and window before 429", func(c *Config, v string) (err error) {
		c.AuthMaxFailures, err = strconv.Atoi(v)
		return err
	}},
	{"CALLDEX_CALLS_MAX_AGE", "720h", "how long CALLS keeps call events", func(c *Config, v string) (err error) {
		c.Retention.Calls, err = time.ParseDuration(v)
		return err
	}},
	{"CALLDEX_WORKFLOWS_MAX_AGE", "720h", "how long WORKFLOWS keeps workflow requests", func(c *Config, v string) (err error) {
		c.Retention.Workflows, err = time.ParseDuration(v)
		return err
	}},
	{"CALLDEX_RESULTS_MAX_AGE", "720h", "how long workflow results stay readable", func(c *Config, v string) (err error) {
		c.Retention.Results, err = time.ParseDuration(v)
		return err
	}},
	{"CALLDEX_RISK", "true", "caller risk: count calls across tenants and score callers in lookup answers", func(c *Config, v string) (err error) {
		c.Risk, err = strconv.ParseBool(v)
		return err
	}},
	{"CALLDEX_AUTH_WINDOW", "1m", "window failed credentials are counted in", func(c *Config, v string) (err error) {
		c.AuthWindow, err = time.ParseDuration(v)
		return err
	}},
	{"CALLDEX_CONSOLE_SESSION_TTL", "8h", "how long a login to the web console lasts", func(c *Config, v string) (err error) {
		c.ConsoleSessionTTL, err = time.ParseDuration(v)
		return err
	}},
}

// EnvNames lists every environment variable Calldex reads.
func EnvNames() []string {
	names := make([]string, len(envVars))
	for i, v := range envVars {
		names[i] = v.name
	}
	return names
}

// DefaultConfig is Config with every default applied.
func DefaultConfig() Config {
	c, err := FromEnv(func(string) (string, bool) { return "", false })
	if err != nil {
		panic(fmt.Sprintf("defaults do not parse: %v", err)) // a bug in envVars
	}
	return c
}

// FromEnv reads Config from the environment (lookup is os.LookupEnv outside
// tests); an empty variable counts as unset. It reports every malformed
// variable at once; Validate checks how they fit together.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	var c Config
	var errs []error
	for _, v := range envVars {
		val, ok := lookup(v.name)
		if !ok || val == "" {
			val = v.def
		}
		if err := v.set(&c, val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", v.name, val, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	dataDir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, fmt.Errorf("CALLDEX_DATA_DIR: %w", err)
	}
	c.DataDir = dataDir
	return c, nil
}

// Demo reports whether this process runs the built-in demo tenant (App.Demo
// also knows a CALLDEX_CONFIG equal to it).
func (c Config) Demo() bool { return c.TenantsFile == "" }

// IndexInHeap reports whether the process keeps the in-process index, the
// one large thing a calldex heap holds (its ingress or projector without
// REDIS_URL).
func (c Config) IndexInHeap() bool {
	return c.RedisURL == "" && (c.Roles.Has(RoleIngress) || c.Roles.Has(RoleProjector))
}

// Validate reports every setting that cannot work, at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("CALLDEX_HTTP_ADDR %q: %w", c.HTTPAddr, err)
	}
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.EmbeddedNATSAddr); err != nil {
			bad("CALLDEX_NATS_ADDR %q: %w", c.EmbeddedNATSAddr, err)
		}
		if !c.Roles.All() {
			bad("CALLDEX_ROLES=%s: a split into roles shares NATS between processes: set NATS_URL", c.Roles)
		}
	}
	if c.RedisURL == "" && c.Roles.Has(RoleIngress) && !c.Roles.Has(RoleProjector) {
		bad("CALLDEX_ROLES=%s: the in-process index is filled by this process's projector: add the projector role or set REDIS_URL", c.Roles)
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		bad("CALLDEX_STREAM_REPLICAS=%d: JetStream keeps 1 to 5 replicas", c.StreamReplicas)
	}
	if c.AppConnectSecret != "" && len(c.AppConnectSecret) < 32 {
		bad("CALLDEX_APPCONNECT_SECRET: %d bytes, at least 32 are needed", len(c.AppConnectSecret))
	}
	if c.ShutdownTimeout <= 0 {
		bad("CALLDEX_SHUTDOWN_TIMEOUT %s: must be positive", c.ShutdownTimeout)
	}
	if c.WorkerConcurrency < 0 {
		bad("CALLDEX_WORKER_CONCURRENCY %d: must not be negative", c.WorkerConcurrency)
	}
	if c.ProjectorBulk < 0 {
		bad("CALLDEX_PROJECTOR_BULK %d: must not be negative", c.ProjectorBulk)
	}
	if c.AuthMaxFailures < 1 {
		bad("CALLDEX_AUTH_MAX_FAILURES %d: must be at least 1", c.AuthMaxFailures)
	}
	if c.AuthWindow <= 0 {
		bad("CALLDEX_AUTH_WINDOW %s: must be positive", c.AuthWindow)
	}
	if c.ConsoleSessionTTL <= 0 {
		bad("CALLDEX_CONSOLE_SESSION_TTL %s: must be positive", c.ConsoleSessionTTL)
	}
	for _, r := range []struct {
		name string
		d    time.Duration
	}{{"CALLDEX_CALLS_MAX_AGE", c.Retention.Calls}, {"CALLDEX_WORKFLOWS_MAX_AGE", c.Retention.Workflows}, {"CALLDEX_RESULTS_MAX_AGE", c.Retention.Results}} {
		// A result must outlive the window in which a re-sent request is
		// recognised as a duplicate, or it would run again.
		if r.d < time.Hour {
			bad("%s %s: keep at least an hour", r.name, r.d)
		}
	}
	if c.PprofAddr != "" {
		if host, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			bad("CALLDEX_PPROF_ADDR %q: %w", c.PprofAddr, err)
		} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			bad("CALLDEX_PPROF_ADDR %q: profiles are served on a loopback address only", c.PprofAddr)
		}
	}
	ca := c.clientAddr()
	if err := ca.Validate(); err != nil {
		bad("CALLDEX_FORWARDED_HEADER: %w", err)
	}
	if err := events.ValidPrefix(c.StreamPrefix); err != nil {
		bad("CALLDEX_STREAM_PREFIX: %w", err)
	}
	if strings.ContainsAny(c.RedisPrefix, " .*>{}") {
		bad("CALLDEX_REDIS_PREFIX %q: no spaces, dots, wildcards or braces", c.RedisPrefix)
	}
	return errors.Join(errs...)
}

// clientAddr configures how the ingress finds a request's client address.
func (c Config) clientAddr() clientaddr.Config {
	return clientaddr.Config{TrustedProxies: c.TrustedProxies, Header: c.ForwardedHeader}
}
