package connectors

import (
	"net"
	"net/http"
	"time"

	"github.com/go-resty/resty/v2"
)

// HTTPConfig configures the shared HTTP client.
type HTTPConfig struct {
	// Timeout caps any request (connectors set shorter per-request
	// timeouts through the context). Default 60s.
	Timeout time.Duration
	// MaxIdleConnsPerHost keeps connections to busy CRM hosts open.
	// Default 64.
	MaxIdleConnsPerHost int
	// MaxResponseBytes bounds a response body read into memory. Default 8 MiB.
	MaxResponseBytes int
	// UserAgent is sent with every request. Default "calldex".
	UserAgent string
}

func (c *HTTPConfig) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = 64
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 8 << 20
	}
	if c.UserAgent == "" {
		c.UserAgent = "calldex"
	}
}

// NewHTTPClient returns the resty client every HTTP connector shares. It
// never retries (RetryCount 0): a retry inside a connector would hide
// failures from the breaker and multiply the worker's own retries.
func NewHTTPClient(cfg HTTPConfig) *resty.Client {
	cfg.defaults()
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * cfg.MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return resty.New().
		SetTransport(transport).
		SetTimeout(cfg.Timeout).
		SetRetryCount(0).
		SetResponseBodyLimit(cfg.MaxResponseBytes).
		SetHeader("User-Agent", cfg.UserAgent)
}
