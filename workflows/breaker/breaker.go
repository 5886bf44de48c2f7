package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/calldex/calldex/workflows/crm"
)

// ErrOpen is returned (wrapped in a *crm.RetryAfterError, so it is
// transient) while the breaker is open or its probe is in flight.
var ErrOpen = errors.New("circuit breaker open")

// State is the breaker's state.
type State int

// States of a breaker.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String names the state for logs.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	default:
		return "half-open"
	}
}

// Config configures a Breaker.
type Config struct {
	// Failures is how many consecutive transient failures open the breaker.
	// Default 5.
	Failures int
	// CoolDown is how long the breaker stays open before a probe. Default 30s.
	CoolDown time.Duration
	// Now is the clock; default time.Now (tests replace it).
	Now func() time.Time
}

// Validate applies defaults and reports every problem at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.CoolDown == 0 {
		c.CoolDown = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Failures < 1 {
		errs = append(errs, fmt.Errorf("breaker: failures %d must be at least 1", c.Failures))
	}
	if c.CoolDown < 0 {
		errs = append(errs, fmt.Errorf("breaker: coolDown %s must not be negative", c.CoolDown))
	}
	return errors.Join(errs...)
}

// Breaker guards one connector instance. It is safe for concurrent use.
type Breaker struct {
	cfg Config

	mu       sync.Mutex
	state    State
	failures int
	openedAt time.Time
	probing  bool
}

// New returns a closed breaker.
func New(cfg Config) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Breaker{cfg: cfg}, nil
}

// State reports the current state; an open breaker whose cool-down is over
// reports HalfOpen.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open && !b.cfg.Now().Before(b.openedAt.Add(b.cfg.CoolDown)) {
		return HalfOpen
	}
	return b.state
}

// Do runs fn unless the breaker is open, and records its outcome. A panic
// in fn counts as a failure and goes on up: a half-open breaker must not
// wait forever for a probe that never reports.
func (b *Breaker) Do(ctx context.Context, fn func(context.Context) error) error {
	if err := b.allow(); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			b.record(ctx, crm.Transient(fmt.Errorf("panic: %v", p)))
			panic(p)
		}
	}()
	err := fn(ctx)
	b.record(ctx, err)
	return err
}

func (b *Breaker) allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case Closed:
		return nil
	case Open:
		left := b.openedAt.Add(b.cfg.CoolDown).Sub(b.cfg.Now())
		if left > 0 {
			return &crm.RetryAfterError{After: left, Err: ErrOpen}
		}
		b.state = HalfOpen
		b.probing = true
		return nil
	default: // HalfOpen: one probe at a time.
		if b.probing {
			return &crm.RetryAfterError{After: b.cfg.CoolDown, Err: fmt.Errorf("%w (probing)", ErrOpen)}
		}
		b.probing = true
		return nil
	}
}

func (b *Breaker) record(ctx context.Context, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	failed := err != nil && !crm.IsPermanent(err)
	if failed && (errors.Is(err, context.Canceled) && ctx.Err() != nil || errors.Is(err, crm.ErrNotSent)) {
		// Our caller gave up (shutdown), or our own rate limit held the
		// call back; the CRM did not fail. A deadline is different: a CRM
		// too slow for the per-attempt timeout counts.
		failed = false
		if b.state == HalfOpen {
			b.probing = false
			return
		}
	}
	if b.state == HalfOpen {
		b.probing = false
		if failed {
			b.state, b.openedAt = Open, b.cfg.Now()
			return
		}
		b.state, b.failures = Closed, 0
		return
	}
	if !failed {
		b.failures = 0
		return
	}
	b.failures++
	if b.state == Closed && b.failures >= b.cfg.Failures {
		b.state, b.openedAt = Open, b.cfg.Now()
	}
}
