package worker

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/calldex/calldex/events"
)

// Config configures a Worker. The zero value of every field but Topology's
// prefix takes its documented default in Validate.
type Config struct {
	// Topology names the streams and buckets (Prefix empty in production).
	Topology events.Topology
	// Durable names the consumer all replicas share (and its deliver
	// group). Renaming it re-consumes the stream. Default "calldex-worker".
	Durable string
	// Concurrency is how many workflows one replica runs at once (one
	// watermill-nats subscription each). Default 128: workflows mostly
	// wait for CRMs, and since JetStream hands each message to a random
	// subscription, which runs its messages one after the other, spare
	// subscriptions keep a workflow from queueing behind a slow CRM call.
	Concurrency int
	// MaxAckPending caps the messages in flight over all replicas
	// (consumer-wide); messages beyond what replicas run wait in their
	// client buffers, with their ack window running. Default 1024.
	MaxAckPending int
	// AckWait is how long JetStream waits for an ack before redelivering
	// (also when a worker died). Default 60s.
	AckWait time.Duration
	// AttemptTimeout bounds one attempt (one CRM call). Must be below
	// AckWait. Default 20s.
	AttemptTimeout time.Duration
	// CloseTimeout bounds how long Run waits for running workflows when
	// stopping. Default 30s.
	CloseTimeout time.Duration
	// Retry configures retries of transient failures.
	Retry RetryConfig
}

// RetryConfig is the backoff of transient failures; see the package doc.
type RetryConfig struct {
	// InitialInterval is the wait after the first failure. Default 500ms.
	InitialInterval time.Duration
	// MaxInterval caps any wait. Default 5m.
	MaxInterval time.Duration
	// Multiplier grows the wait after each failure. Default 2.
	Multiplier float64
	// Jitter spreads each wait by ± this fraction, so that workflows
	// failing together do not retry together. Default 0.2.
	Jitter float64
	// LocalAttempts is how many attempts one delivery makes before handing
	// the message back to JetStream. Default 3.
	LocalAttempts int
	// MaxAttempts dead-letters a workflow after this many attempts; 0 means
	// no limit (MaxAge decides).
	MaxAttempts int
	// MaxAge dead-letters a workflow whose request is older, after a failed
	// attempt. Default 24h; at most 29 days (the stream keeps 30).
	MaxAge time.Duration
}

// Defaults.
const (
	DefaultDurable     = "calldex-worker"
	maxAge             = 29 * 24 * time.Hour
	ackWindowShare     = 0.8 // of AckWait usable by one delivery's attempts
	defaultConcurrency = 128
)

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Durable == "" {
		c.Durable = DefaultDurable
	}
	if err := events.ValidID(c.Durable); err != nil {
		errs = append(errs, fmt.Errorf("worker: durable: %w", err))
	}
	if c.Concurrency == 0 {
		c.Concurrency = defaultConcurrency
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 1024
	}
	def(&c.AckWait, 60*time.Second)
	def(&c.AttemptTimeout, 20*time.Second)
	def(&c.CloseTimeout, 30*time.Second)
	r := &c.Retry
	def(&r.InitialInterval, 500*time.Millisecond)
	def(&r.MaxInterval, 5*time.Minute)
	def(&r.MaxAge, 24*time.Hour)
	if r.Multiplier == 0 {
		r.Multiplier = 2
	}
	if r.Jitter == 0 {
		r.Jitter = 0.2
	}
	if r.LocalAttempts == 0 {
		r.LocalAttempts = 3
	}

	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("worker: concurrency %d must be at least 1", c.Concurrency))
	}
	if c.MaxAckPending < 1 {
		errs = append(errs, fmt.Errorf("worker: maxAckPending %d must be at least 1", c.MaxAckPending))
	}
	if c.AttemptTimeout <= 0 || c.AckWait <= 0 || c.CloseTimeout <= 0 {
		errs = append(errs, errors.New("worker: ackWait, attemptTimeout and closeTimeout must be positive"))
	} else if float64(c.AttemptTimeout) >= ackWindowShare*float64(c.AckWait) {
		errs = append(errs, fmt.Errorf("worker: attemptTimeout %s must be below %.0f%% of ackWait %s, or JetStream redelivers running attempts", c.AttemptTimeout, 100*ackWindowShare, c.AckWait))
	}
	if r.InitialInterval <= 0 || r.MaxInterval < r.InitialInterval {
		errs = append(errs, fmt.Errorf("worker: retry intervals %s..%s must be positive and ordered", r.InitialInterval, r.MaxInterval))
	}
	if r.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("worker: retry multiplier %g must be at least 1", r.Multiplier))
	}
	if r.Jitter < 0 || r.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("worker: retry jitter %g must be in [0, 1)", r.Jitter))
	}
	if r.LocalAttempts < 1 {
		errs = append(errs, fmt.Errorf("worker: retry localAttempts %d must be at least 1", r.LocalAttempts))
	}
	if r.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("worker: retry maxAttempts %d must not be negative", r.MaxAttempts))
	}
	if r.MaxAge <= 0 || r.MaxAge > maxAge {
		errs = append(errs, fmt.Errorf("worker: retry maxAge %s must be positive and at most %s (the stream drops older messages)", r.MaxAge, maxAge))
	}
	return errors.Join(errs...)
}

// backoff is the wait after the n-th failed attempt (n ≥ 1).
func (r RetryConfig) backoff(n int) time.Duration {
	d := float64(r.InitialInterval) * math.Pow(r.Multiplier, float64(max(n, 1)-1))
	d = min(d, float64(r.MaxInterval))
	d *= 1 + r.Jitter*(2*rand.Float64()-1)
	return time.Duration(d)
}

// nakDelay is the watermill-nats Delay of a Nak: the backoff after the last
// local attempt of the numDelivered-th delivery.
type nakDelay struct{ r RetryConfig }

// WaitTime implements watermill-nats Delay.
func (d nakDelay) WaitTime(numDelivered uint64) time.Duration {
	return d.r.backoff(int(numDelivered) * d.r.LocalAttempts)
}
