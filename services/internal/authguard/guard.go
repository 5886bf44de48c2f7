package authguard

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of credential a failure is counted under (the kind label of
// calldex_auth_failures_total).
const (
	KindTenantCredential = "tenant_credential"
	KindAdminToken       = "admin_token"
	KindAppConnectKey    = "appconnect_api_key"
	KindWebhookSignature = "webhook_signature"
	KindWebhookReplay    = "webhook_replay"
)

// Defaults applied by Config.Validate to fields left zero.
const (
	DefaultMaxFailures       = 10
	DefaultMaxTenantFailures = 100
	DefaultWindow            = time.Minute
	DefaultMaxKeys           = 100_000
)

// Config configures a Guard.
type Config struct {
	// MaxFailures is how many failures an address may have in one window
	// before it is refused. Default 10.
	MaxFailures int
	// MaxTenantFailures is how many failures a tenant may see in one window
	// before addresses that failed for it are refused. Default 100.
	MaxTenantFailures int
	// Window is the length of one counting window. Default 1 minute.
	Window time.Duration
	// MaxKeys bounds how many addresses, and how many tenants, are counted
	// at once. Default 100,000 (a few MiB).
	MaxKeys int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.MaxTenantFailures == 0 {
		c.MaxTenantFailures = DefaultMaxTenantFailures
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = DefaultMaxKeys
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	var errs []error
	if c.MaxFailures < 0 || c.MaxTenantFailures < 0 || c.MaxKeys < 0 {
		errs = append(errs, errors.New("authguard: maxFailures, maxTenantFailures and maxKeys must be positive"))
	}
	if c.Window < 0 {
		errs = append(errs, errors.New("authguard: window must be positive"))
	}
	return errors.Join(errs...)
}

// counter is the failures of one address or tenant in the window that
// started at start.
type counter struct {
	start time.Time
	n     int
}

// Guard counts failed credentials and refuses addresses that failed too
// often. Its methods are safe for concurrent use; a nil *Guard allows
// everything and counts nothing.
type Guard struct {
	cfg      Config
	failures *prometheus.CounterVec
	log      *slog.Logger

	// blockedUntil (Unix ns) is the end of the latest window in which
	// some address or tenant reached its limit: before it, Allow looks
	// the address up; after it (or at 0), nothing is blocked and Allow
	// returns at once.
	blockedUntil atomic.Int64

	mu      sync.RWMutex
	addrs   map[string]*counter
	tenants map[string]*counter
}

// New builds a Guard. failures (calldex_auth_failures_total, by kind) may
// be nil; log defaults to slog.Default().
func New(cfg Config, failures *prometheus.CounterVec, log *slog.Logger) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &Guard{cfg: cfg, failures: failures, log: log, addrs: map[string]*counter{}, tenants: map[string]*counter{}}, nil
}

// Address is the client address of a RemoteAddr ("host:port" → host),
// without allocating.
func Address(remoteAddr string) string {
	if i := strings.LastIndexByte(remoteAddr, ':'); i >= 0 && !strings.HasSuffix(remoteAddr, "]") {
		remoteAddr = remoteAddr[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(remoteAddr, "["), "]")
}

// Allow reports whether a request from addr (a RemoteAddr or an address)
// for tenant (empty when the request names none) may try its credential;
// when it may not, retryAfter is when the window ends.
func (g *Guard) Allow(addr, tenant string) (retryAfter time.Duration, ok bool) {
	if g == nil {
		return 0, true
	}
	until := g.blockedUntil.Load()
	if until == 0 {
		return 0, true
	}
	now := g.cfg.Now()
	if now.UnixNano() >= until {
		g.blockedUntil.CompareAndSwap(until, 0) // the next ones skip the clock
		return 0, true
	}
	addr = Address(addr)
	g.mu.RLock()
	defer g.mu.RUnlock()
	a := g.live(g.addrs, addr, now)
	if a == nil {
		return 0, true
	}
	if a.n >= g.cfg.MaxFailures {
		return a.start.Add(g.cfg.Window).Sub(now), false
	}
	if tenant != "" {
		if t := g.live(g.tenants, tenant, now); t != nil && t.n >= g.cfg.MaxTenantFailures {
			return t.start.Add(g.cfg.Window).Sub(now), false
		}
	}
	return 0, true
}

// live returns the counter of key if its window has not ended. g.mu held.
func (g *Guard) live(counters map[string]*counter, key string, now time.Time) *counter {
	c := counters[key]
	if c == nil || now.Sub(c.start) >= g.cfg.Window {
		return nil
	}
	return c
}

// Fail counts a failed credential of kind from addr (a RemoteAddr or an
// address) for tenant (empty when unknown), and logs the first failure of
// an address in a window and the one that reaches the limit. It never sees
// the credential itself.
func (g *Guard) Fail(kind, addr, tenant string) {
	if g == nil {
		return
	}
	if g.failures != nil {
		g.failures.WithLabelValues(kind).Inc()
	}
	now := g.cfg.Now()
	addr = Address(addr)
	g.mu.Lock()
	n := g.count(g.addrs, addr, g.cfg.MaxFailures, now)
	tn := 0
	if tenant != "" {
		tn = g.count(g.tenants, tenant, g.cfg.MaxTenantFailures, now)
	}
	g.mu.Unlock()
	switch {
	case n == g.cfg.MaxFailures:
		g.log.Warn("credential failures: address refused until the window ends",
			"kind", kind, "addr", addr, "tenant", tenant, "failures", n, "window", g.cfg.Window)
	case tn == g.cfg.MaxTenantFailures:
		g.log.Warn("credential failures: tenant under attack, failing addresses refused until the window ends",
			"kind", kind, "addr", addr, "tenant", tenant, "failures", tn, "window", g.cfg.Window)
	case n == 1:
		g.log.Info("credential refused", "kind", kind, "addr", addr, "tenant", tenant)
	}
}

// count adds a failure to key's counter and returns its count in the
// current window; reaching limit blocks until the window ends. g.mu held.
func (g *Guard) count(counters map[string]*counter, key string, limit int, now time.Time) int {
	c := counters[key]
	if c == nil {
		if len(counters) >= g.cfg.MaxKeys {
			g.evict(counters, now)
		}
		c = &counter{start: now}
		counters[strings.Clone(key)] = c
	} else if now.Sub(c.start) >= g.cfg.Window {
		*c = counter{start: now}
	}
	c.n++
	if c.n == limit {
		end := c.start.Add(g.cfg.Window).UnixNano()
		for {
			cur := g.blockedUntil.Load()
			if cur >= end || g.blockedUntil.CompareAndSwap(cur, end) {
				break
			}
		}
	}
	return c.n
}

// evict makes room: expired counters go, and if none had expired, one in
// sixteen of the others (Go's map order is random). g.mu held.
func (g *Guard) evict(counters map[string]*counter, now time.Time) {
	before := len(counters)
	for k, c := range counters {
		if now.Sub(c.start) >= g.cfg.Window {
			delete(counters, k)
		}
	}
	if len(counters) < before {
		return
	}
	drop := max(1, before/16)
	for k := range counters {
		if drop == 0 {
			break
		}
		delete(counters, k)
		drop--
	}
}

// SetRetryAfter sets Retry-After to d in whole seconds, at least one.
func SetRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}
